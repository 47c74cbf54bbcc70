"""Template context: the signed-in user's workspaces and the one the UI currently acts in."""

from workspaces.ui import current_membership


def workspace(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership, memberships = current_membership(request)
    return {
        "current_membership": membership,
        "current_workspace": membership.workspace if membership else None,
        "user_memberships": memberships,
    }
