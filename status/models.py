"""Liveness records of the background processes (worker, beat) for readiness and the board."""

from django.db import models


class Heartbeat(models.Model):
    """The last time a background process proved it was alive."""

    # "beat" or "worker:<queue>:<node>" (a Celery node name, e.g. lab@host)
    name = models.CharField(max_length=200, primary_key=True)
    last_seen_at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
