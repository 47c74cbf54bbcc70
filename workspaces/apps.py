from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    """Workspaces: memberships, roles, X-Workspace-Id scoping and the audit trail."""

    name = "workspaces"
    default_auto_field = "django.db.models.BigAutoField"
