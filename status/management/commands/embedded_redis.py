"""`manage.py embedded_redis start|stop|status`: the embedded default's Redis server."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import embedded


class Command(BaseCommand):
    help = "Start, stop or show the embedded Redis server (used when REDIS_URL is not set)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action: str, **options):
        if not settings.REDIS_EMBEDDED:
            raise CommandError("REDIS_URL is set: Redis is external, nothing to manage here.")
        if action == "start":
            self.stdout.write(embedded.ensure_redis(settings.VAR_DIR))
        elif action == "stop":
            stopped = embedded.stop_redis(settings.VAR_DIR)
            self.stdout.write("stopped" if stopped else "not running")
        else:
            running = embedded.answers(embedded.redis_socket_path(settings.VAR_DIR))
            self.stdout.write(
                ("running at " if running else "not running; would use ")
                + embedded.redis_url(settings.VAR_DIR)
            )
