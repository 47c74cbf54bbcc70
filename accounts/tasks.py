"""Celery tasks of accounts: thin wrappers around accounts.services."""

from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task(name="accounts.purge_expired_tokens")
def purge_expired_tokens_task() -> int:
    """Delete expired API tokens (they are already refused; this keeps the table small)."""
    return services.purge_expired_tokens()
