"""Celery tasks of the exchanges app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from exchanges import services


# Beat sends this every 2 s; a run that overlaps the next is harmless (fills lock and re-check
# the order, cursors only move forward), and a missed run is caught up by the next one, which
# reads every minute since each order's last check.
@shared_task(name="exchanges.match_demo_orders", ignore_result=True)
def match_demo_orders_task() -> int:
    return services.match_demo_orders()
