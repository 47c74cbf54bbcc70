"""Beat-driven liveness of the worker and of beat itself."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from celery import shared_task
from django.utils import timezone

from status import services

PUBLISHED_AT_HEADER = "botmarket_published_at"


# Beat is the only publisher of this task, so its publish time is beat's heartbeat and its
# execution is the worker's. Beat sends it to every queue, and the queue it arrived on names the
# worker pool it proves alive (`worker:<queue>:<node>`). expires keeps a backlog from replaying
# stale heartbeats.
@shared_task(name="status.heartbeat", bind=True, ignore_result=True)
def heartbeat_task(self) -> None:
    now = timezone.now()
    node = self.request.hostname or socket.gethostname()
    queue = (self.request.delivery_info or {}).get("routing_key") or "default"
    services.record_heartbeat(
        name=f"worker:{queue}:{node}", seen_at=now, details={"pid": os.getpid(), "queue": queue}
    )
    published = getattr(self.request, PUBLISHED_AT_HEADER, None)
    if published:
        services.record_heartbeat(
            name="beat", seen_at=datetime.fromtimestamp(float(published), tz=UTC)
        )
