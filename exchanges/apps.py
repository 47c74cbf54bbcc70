from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    """Exchanges: connections with encrypted secrets and the exchange gateway."""

    name = "exchanges"
    default_auto_field = "django.db.models.BigAutoField"
