"""Readiness checks: each returns None when healthy or a short, secret-free reason."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from config.keys import decode_key

_migrations_applied = False  # once applied they stay applied for this process's code


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return type(exc).__name__
    return None


def check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return type(exc).__name__
    return None


def check_migrations() -> str | None:
    global _migrations_applied
    if _migrations_applied:
        return None
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return type(exc).__name__
    if pending:
        return f"{len(pending)} migration(s) not applied"
    _migrations_applied = True
    return None


def check_encryption_key() -> str | None:
    try:
        decode_key(settings.SECRET_ENCRYPTION_KEY)
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


READINESS_CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "migrations": check_migrations,
    "encryption_key": check_encryption_key,
}


def readiness() -> dict[str, str | None]:
    """Run every readiness check; the value is None for a passing check, else its reason."""
    return {name: check() for name, check in READINESS_CHECKS.items()}
