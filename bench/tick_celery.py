"""The tick bench's Celery app: the product's, plus two bench-only tasks.

    celery -A tick_celery worker -Q ticks …   (cwd: the repository, PYTHONPATH=bench)

bench/tick_bench.py starts its worker with this module, so the tasks below exist only in that
worker; the product ships nothing bench-only. `bench.noop` does nothing: a backlog of them
measures the Celery floor (messages a worker process gets through per second on this
machine). `bench.mark` stores the time it ran in the cache, which brackets the backlog.
"""

from __future__ import annotations

import time

from config.celery import app

__all__ = ["app"]


@app.task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """Nothing: the cost of a Celery task itself."""


@app.task(name="bench.mark", ignore_result=True)
def mark(key: str) -> None:
    """Record when the worker got here (`tickbench:mark:<key>` in the cache)."""
    from django.core.cache import cache

    cache.set(f"tickbench:mark:{key}", time.time(), timeout=3600)
