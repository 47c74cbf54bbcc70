from django.apps import AppConfig


class StatusConfig(AppConfig):
    """System status: heartbeats, components, HOLD and approvals."""

    name = "status"
    default_auto_field = "django.db.models.BigAutoField"
