"""Celery tasks of the terminal: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from terminal import services


# Beat sends this every TERMINAL_REFRESH_SECONDS on the default queue. A run that overlaps the
# next is harmless (transition locks each order and a finished one never changes), and one
# that is skipped or fails is made up by the next, which reads every open order again.
@shared_task(name="terminal.refresh_open_orders", ignore_result=True)
def refresh_open_orders_task() -> int:
    return services.refresh_open_orders()
