import time

import pytest

from status.models import Heartbeat
from status.tasks import heartbeat_task
from tests.helpers import wait_until


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_worker_and_beat_heartbeats(celery_worker_process):
    sent_at = time.time()
    heartbeat_task.apply_async(headers={"botmarket_published_at": str(sent_at)})
    wait_until(
        lambda: Heartbeat.objects.count() >= 2,
        timeout=20,
        interval=0.2,
        message="no worker and beat heartbeats",
    )
    names = set(Heartbeat.objects.values_list("name", flat=True))
    assert "beat" in names
    assert any(name.startswith("worker:") for name in names)
    assert abs(Heartbeat.objects.get(name="beat").last_seen_at.timestamp() - sent_at) < 1
