"""Domain errors of workspaces and scoping, rendered as problem+json."""

from config.problems import Problem


class WorkspaceHeaderMissing(Problem):
    status = 400
    code = "workspace-header-missing"
    title = "The X-Workspace-Id header is required"


class WorkspaceHeaderInvalid(Problem):
    status = 400
    code = "workspace-header-invalid"
    title = "The X-Workspace-Id header is not a UUID"


class NotAWorkspaceMember(Problem):
    status = 403
    code = "not-a-workspace-member"
    title = "You are not a member of this workspace"


class RoleRequired(Problem):
    status = 403
    code = "role-required"
    title = "Your role in this workspace does not allow this"


class LastOwner(Problem):
    status = 409
    code = "last-owner"
    title = "A workspace must keep at least one owner"


class AlreadyMember(Problem):
    status = 409
    code = "already-member"
    title = "The user is already a member of this workspace"


class WorkspaceOnHold(Problem):
    status = 423
    code = "workspace-on-hold"
    title = "Trading in this workspace is on HOLD"


class WorkspaceObjectNotFound(Problem):
    """An id in a request body or query names no object of the request's workspace.

    Another workspace's id gets exactly the same answer as an id nobody has: nothing leaks.
    """

    status = 404
    code = "not-found"
    title = "Not found"
