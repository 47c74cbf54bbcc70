"""Prometheus metrics of the cross-cutting plumbing, exported at /metrics (django-prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

# Rate-limit checks that could not reach the counters' store (the Redis cache) and so let the
# request through unlimited; anything above zero means the limits are off.
RATELIMIT_STORE_ERRORS = Counter(
    "ratelimit_store_errors_total",
    "Rate-limit checks that failed open because the counter store (Redis) was unreachable.",
    ["group"],
)
