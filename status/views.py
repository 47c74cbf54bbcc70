"""Liveness and readiness endpoints for load balancers, systemd and the smoke test."""

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from status.health import readiness


@never_cache
@require_GET
def health(request):
    """Liveness: the process answers. No I/O, so a slow database never restarts healthy web."""
    return JsonResponse({"status": "ok", "ts": timezone.now().isoformat()})


@never_cache
@require_GET
def ready(request):
    """Readiness: 200 when every dependency is usable, else 503 naming the failing checks."""
    results = readiness()
    failing = sorted(name for name, reason in results.items() if reason)
    body = {
        "status": "ready" if not failing else "not-ready",
        "failing": failing,
        "checks": {
            name: {"ok": reason is None, "reason": reason} for name, reason in results.items()
        },
        "ts": timezone.now().isoformat(),
    }
    return JsonResponse(body, status=503 if failing else 200)
