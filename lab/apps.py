from django.apps import AppConfig


class LabConfig(AppConfig):
    """Research lab: datasets and reproducible backtests."""

    name = "lab"
    default_auto_field = "django.db.models.BigAutoField"
