from django.apps import AppConfig


class BotsConfig(AppConfig):
    """Bots: runs, their state machine, ticks and risk guards."""

    name = "bots"
    default_auto_field = "django.db.models.BigAutoField"
