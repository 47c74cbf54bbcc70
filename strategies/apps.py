from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    """Strategies: the JSON DSL, immutable versions and the evaluation engine."""

    name = "strategies"
    default_auto_field = "django.db.models.BigAutoField"
