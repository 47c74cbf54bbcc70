from django.apps import AppConfig


class TerminalConfig(AppConfig):
    """Terminal: market data, manual orders, positions and balances."""

    name = "terminal"
    default_auto_field = "django.db.models.BigAutoField"
