from django.apps import AppConfig


class TerminalConfig(AppConfig):
    """Terminal: market data, manual orders, positions and balances."""

    name = "terminal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the metrics at startup, so /metrics lists them before the first order.
        from terminal import metrics  # noqa: F401
