"""One `REDIS_URL`, several clients: derive each library's URL and database number from it.

The broker, the cache (rate limits, market metadata) and the channel layer share one server but
use separate logical databases, so flushing a test cache can never drop queued Celery messages.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BROKER_DB_OFFSET = 0
CACHE_DB_OFFSET = 1
CHANNELS_DB_OFFSET = 2


def _base_db(url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return int(dict(parse_qsl(parts.query)).get("db", 0))
    path = parts.path.lstrip("/")
    return int(path) if path else 0


def with_db(url: str, offset: int) -> str:
    """Return `url` pointing at its own database number plus `offset` (redis:// or unix://)."""
    parts = urlsplit(url)
    db = _base_db(url) + offset
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        # urlunsplit would drop the empty authority ("unix:/path"), which redis-py rejects.
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def celery_broker_url(url: str) -> str:
    """Kombu spells a unix socket `redis+socket:///path` with the db as `virtual_host`."""
    parts = urlsplit(url)
    db = _base_db(url) + BROKER_DB_OFFSET
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={db}"
    return with_db(url, BROKER_DB_OFFSET)
