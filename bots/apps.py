from django.apps import AppConfig


class BotsConfig(AppConfig):
    """Bots: runs, their state machine, ticks and risk guards."""

    name = "bots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots.metrics import RunStateCollector
        from config.metrics import register_scrape_collector

        register_scrape_collector(RunStateCollector())

        from bots import signals  # noqa: F401  (connects the receivers)
