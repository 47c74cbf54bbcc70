"""The broker settings hold for every task the product registers (no worker needed)."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import WORKER_QUEUES, app

VISIBILITY_TIMEOUT = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]


def product_tasks():
    app.loader.import_default_modules()  # what a worker imports at start: every app's tasks.py
    return sorted(
        (task for name, task in app.tasks.items() if not name.startswith("celery.")),
        key=lambda task: task.name,
    )


@pytest.mark.parametrize("task", product_tasks(), ids=lambda task: task.name)
def test_every_task_lands_on_a_queue_that_has_a_worker(task):
    # A task's own `queue` wins over config/celery.py's routes, as in Task.apply_async.
    options = {"queue": task.queue} if getattr(task, "queue", None) else {}
    queue = app.amqp.router.route(options, task.name)["queue"]
    assert getattr(queue, "name", queue) in WORKER_QUEUES


@pytest.mark.parametrize("task", product_tasks(), ids=lambda task: task.name)
def test_no_task_outlives_the_visibility_timeout_unacknowledged(task):
    """An acks_late task running, or a retry waiting, longer than it would run twice."""
    acks_late = task.acks_late if task.acks_late is not None else app.conf.task_acks_late
    if acks_late:
        assert task.time_limit, f"{task.name} is acks_late without a time_limit"
        assert task.time_limit < VISIBILITY_TIMEOUT
    if getattr(task, "retry_backoff", False):
        assert task.retry_backoff_max < VISIBILITY_TIMEOUT


def test_the_broker_uses_the_configured_visibility_timeout():
    with app.connection_for_write() as connection:
        assert connection.default_channel.visibility_timeout == VISIBILITY_TIMEOUT
    # Its bound is what makes 5 minutes enough: a killed worker held no queued messages.
    assert app.conf.worker_disable_prefetch is True
    assert app.conf.task_acks_late is False
    assert app.conf.task_reject_on_worker_lost is False
