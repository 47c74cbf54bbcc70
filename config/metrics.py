"""Prometheus metrics: the plumbing's own, the /metrics view, and a worker host's exporter.

Every process writes its counters and histograms to the host's multiprocess folder
(config/multiprocess.py, `PROMETHEUS_MULTIPROC_DIR`): django-prometheus's request, database
and cache metrics, the terminal's and the bots' own, whichever process counted them (the web,
a Celery worker's pool process, beat). A scrape merges the folder (`MultiProcessCollector`):
counters and histograms are summed over the processes, gauges are kept per process (`pid`).
Values computed at scrape time (runs by state, read from the database) come from the
collectors apps register with `register_scrape_collector`; only the web's /metrics adds them,
so a host with an exporter never reports them twice.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Rate-limit checks that could not reach the counters' store (the Redis cache) and so let the
# request through unlimited; anything above zero means the limits are off.
RATELIMIT_STORE_ERRORS = Counter(
    "ratelimit_store_errors_total",
    "Rate-limit checks that failed open because the counter store (Redis) was unreachable.",
    ["group"],
)

_SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Add `collector` to every /metrics scrape (an app's `ready()`; values read at scrape)."""
    if collector not in _SCRAPE_COLLECTORS:
        _SCRAPE_COLLECTORS.append(collector)


def host_registry() -> CollectorRegistry:
    """A registry of what every process of this host has counted (the merged folder)."""
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the host's merged metrics plus the values computed at scrape time."""
    registry = host_registry()
    for collector in _SCRAPE_COLLECTORS:
        registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int, addr: str = "0.0.0.0"):  # noqa: S104 (a scrape port)
    """Serve the host's merged metrics on `port` (a worker host without the web); returns
    prometheus_client's (server, thread), or None when the port is taken (one exporter per
    host is enough: every exporter of a host serves the same merge)."""
    from prometheus_client import start_http_server

    try:
        served = start_http_server(port, addr=addr, registry=host_registry())
    except OSError as exc:
        logger.warning("metrics.exporter_not_started", extra={"port": port, "error": str(exc)})
        return None
    logger.info("metrics.exporter_started", extra={"port": port, "pid": os.getpid()})
    return served


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of an ended process (its counters stay part of the totals)."""
    prometheus_multiprocess.mark_process_dead(pid, path=str(settings.METRICS_DIR))
