"""Per-client-IP rate limits on top of django-ratelimit's Redis-backed counters.

The client IP comes from `X-Forwarded-For` only when the direct peer is a trusted proxy; anyone
else could send that header to get a fresh budget. When Redis is unreachable the limits fail
open: the request goes on, `ratelimit_store_errors_total` counts it and a warning is logged.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from functools import lru_cache

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from config.metrics import RATELIMIT_STORE_ERRORS
from config.problems import RateLimited

logger = logging.getLogger(__name__)

# During an outage every request fails the same way: one warning per interval and process says
# so without flooding the log; the counter has the exact number.
STORE_WARNING_INTERVAL_SECONDS = 60.0
_last_store_warning = -STORE_WARNING_INTERVAL_SECONDS


@lru_cache(maxsize=16)
def _networks(spec: tuple[str, ...]):
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def _is_trusted(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request) -> str:
    """The client's IP: the peer, or the nearest untrusted hop of X-Forwarded-For behind a proxy."""
    peer = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not settings.TRUSTED_PROXIES or not _is_trusted(peer):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # Walk from the right: every hop a trusted proxy appended is skipped, the first other is the
    # client. Hops further left were written by the client itself and are not believed.
    for hop in reversed(hops):
        if not _is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def _ip_key(group, request) -> str:
    return client_ip(request)


def usage(request, *, group: str, rate: str, increment: bool = True) -> dict | None:
    """Count this request against `group`'s budget for the client IP.

    None when limits are disabled or their store is unreachable (fail open: an outage of the
    cache must not take the API down with it; /ready reports Redis meanwhile).
    """
    if not settings.RATELIMIT_ENABLE:
        return None
    try:
        return get_usage(request, group=group, key=_ip_key, rate=rate, increment=increment)
    except (RedisError, OSError) as exc:
        _store_failed(group, exc)
        return None


def _store_failed(group: str, exc: Exception) -> None:
    global _last_store_warning
    RATELIMIT_STORE_ERRORS.labels(group=group).inc()
    now = time.monotonic()
    if now - _last_store_warning >= STORE_WARNING_INTERVAL_SECONDS:
        _last_store_warning = now
        logger.warning(
            "ratelimit.store_unavailable",
            extra={"group": group, "error": type(exc).__name__, "fail_open": True},
        )


def enforce(request, *, group: str, rate: str) -> None:
    """Raise RateLimited (429 with Retry-After) when the client IP is over `rate` for `group`."""
    result = usage(request, group=group, rate=rate)
    if result and result["should_limit"]:
        raise RateLimited(retry_after=result["time_left"])
