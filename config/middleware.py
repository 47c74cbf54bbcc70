"""Cross-cutting HTTP middleware: request ids, problem+json for every API error, global limit."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils import translation

from config import context
from config.parsers import check_form
from config.problems import (
    PROBLEM_CONTENT_TYPE,
    InvalidCharacters,
    payload_too_large,
    problem_response,
)
from config.ratelimit import client_ip, usage

logger = logging.getLogger("botmarket.http")

# Paths a load balancer or Prometheus polls: never rate limited, never logged per hit.
_INFRA_PATHS = ("/health", "/ready", "/live-readiness", "/api/health", "/metrics")


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


class RequestIdMiddleware:
    """Accept or mint `X-Request-ID`, expose it to logs and tasks, echo it, log the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.accept_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        context.clear()
        context.bind(request_id=request_id, client_ip=client_ip(request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if not request.path.startswith(_INFRA_PATHS) and not request.path.startswith(
                settings.STATIC_URL
            ):
                logger.info(
                    "http.request",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            return response
        finally:
            context.clear()


class ProblemDetailsMiddleware:
    """Make sure no API client ever gets an HTML error page or a traceback.

    DRF views already answer problem+json; this catches what happens outside them: unknown URLs,
    405s from plain views, and unexpected exceptions (rendered as 500 with the request id).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            _is_api(request)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        ):
            headers = {}
            if response.has_header("Allow"):
                headers["Allow"] = response["Allow"]
            if response.has_header("Retry-After"):
                headers["Retry-After"] = response["Retry-After"]
            return problem_response(response.status_code, headers=headers)
        return response

    def process_exception(self, request, exception):
        if not _is_api(request):
            return None
        if isinstance(exception, RequestDataTooBig):  # a plain view read an oversized body
            problem = payload_too_large()
            return problem_response(413, code=problem.code, detail=problem.detail_text)
        logger.exception("http.unhandled_exception", extra={"path": request.path})
        return problem_response(500, detail="An unexpected error occurred; quote the request id.")


class GlobalRateLimitMiddleware:
    """Every client IP gets `RATE_LIMIT_GLOBAL` requests per window across the whole product."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(_INFRA_PATHS) and not request.path.startswith(
            settings.STATIC_URL
        ):
            result = usage(request, group="global", rate=settings.RATE_LIMIT_GLOBAL)
            if result and result["should_limit"]:
                retry_after = str(max(1, int(result["time_left"])))
                return problem_response(
                    429,
                    code="rate-limited",
                    detail=f"Rate limit exceeded; retry in {retry_after} s.",
                    headers={"Retry-After": retry_after},
                )
        return self.get_response(request)


class QueryParameterMiddleware:
    """Refuse API query parameters holding a NUL (or a lone surrogate): 400 invalid-characters.

    Views hand parameters to the database, which cannot compare text with a NUL in it (a 500
    otherwise). The pointer names the parameter, as for other query errors (`/search`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_api(request) and request.GET:
            try:
                check_form(request.GET)
            except InvalidCharacters as problem:
                return problem_response(
                    400,
                    code=problem.code,
                    title=problem.title,
                    detail=problem.detail_text,
                    errors=problem.errors,
                )
        return self.get_response(request)


class LogContextMiddleware:
    """Put the session user's id on the log context (token users are bound by DRF auth)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context.bind(user_id=user.pk)
        return self.get_response(request)


class LanguageMiddleware:
    """Russian unless the user picked another language with the header switch (cookie).

    Django's LocaleMiddleware would follow the browser's Accept-Language; the product's
    default is Russian for everyone, and the switch is the one way to change it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
