"""RFC 9457 Problem Details: the one shape every API error leaves in.

Domain errors subclass `Problem` (a DRF APIException with a stable kebab-case `code`); the DRF
exception handler and `ProblemDetailsMiddleware` render everything else (validation, auth,
404/405/429, unexpected 500s) in the same shape, with the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from config import context

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(exceptions.APIException):
    """Base of every domain error: subclasses set `status`, `code` and `title`."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status_code = self.status
        self.detail_text = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        super().__init__(detail=self.detail_text, code=self.code)


class ValidationProblem(Problem):
    """Field errors raised by a service, each with a JSON pointer into the request body."""

    status = 400
    code = "validation-error"
    title = "The request is not valid"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None):
        super().__init__(detail or "One or more fields are invalid.", errors=errors)

    @classmethod
    def at(cls, pointer: str, detail: str) -> ValidationProblem:
        return cls([{"pointer": pointer, "detail": detail}], detail=detail)


class RateLimited(Problem):
    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None):
        retry_after = max(1, int(retry_after))
        super().__init__(
            detail or f"Rate limit exceeded; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


class PayloadTooLarge(Problem):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


class TooDeep(Problem):
    """A body nested deeper than the API's limit (docs/api.md, "Input rules")."""

    status = 400
    code = "too-deep"
    title = "The request body is nested too deeply"

    def __init__(self, pointer: str, detail: str):
        super().__init__(detail, errors=[{"pointer": pointer, "detail": detail}])


class InvalidCharacters(Problem):
    """Strings with a NUL character or a lone UTF-16 surrogate, which nothing can store."""

    status = 400
    code = "invalid-characters"
    title = "The request holds characters that are not allowed"

    def __init__(self, errors: list[dict[str, str]]):
        detail = errors[0]["detail"] if len(errors) == 1 else "Some strings hold bad characters."
        super().__init__(detail, errors=errors)


def payload_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body may be at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
        "(files aside)."
    )


# Codes and titles for the statuses DRF and Django raise themselves.
_STATUS_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("not-authenticated", "Authentication required"),
    403: ("permission-denied", "Permission denied"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    423: ("locked", "Locked"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    502: ("bad-gateway", "Bad gateway"),
    503: ("service-unavailable", "Service unavailable"),
}


def problem_body(
    *,
    status: int,
    code: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    default_code, default_title = _STATUS_PROBLEMS.get(status, ("error", "Error"))
    code = code or default_code
    return {
        "type": f"/problems/{code}",
        "title": title or default_title,
        "status": status,
        "detail": detail or title or default_title,
        "code": code,
        "request_id": context.current_request_id(),
        "errors": errors or [],
    }


def problem_response(status: int, **fields) -> JsonResponse:
    """A plain Django response in problem+json, for code paths outside DRF views."""
    headers = fields.pop("headers", None) or {}
    response = JsonResponse(
        problem_body(status=status, **fields),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )
    for name, value in headers.items():
        response[name] = value
    return response


def _escape_pointer_token(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested error detail into `[{pointer, detail}]` (RFC 6901 pointers).

    Non-field errors point at the whole body (`""`).
    """
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                out.extend(pointer_errors(value, prefix))
            else:
                out.extend(pointer_errors(value, f"{prefix}/{_escape_pointer_token(key)}"))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str | exceptions.ErrorDetail) for item in detail):
            return [{"pointer": prefix, "detail": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                # DRF puts `{}` for list items without errors; their index still counts.
                out.extend(pointer_errors(item, f"{prefix}/{index}"))
            else:
                out.append({"pointer": prefix, "detail": str(item)})
        return out
    return [{"pointer": prefix, "detail": str(detail)}]


def problem_exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every exception a view raises leaves as problem+json."""
    if isinstance(exc, Ratelimited):
        exc = RateLimited(retry_after=60)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = payload_too_large()
    elif isinstance(exc, MultiPartParserError | TooManyFieldsSent | TooManyFilesSent):
        # Django's form parsing, reached outside DRF's parsers (a session's CSRF check).
        exc = exceptions.ParseError(f"Malformed form body: {exc}")

    # Imported here: rest_framework.views loads the parser classes of settings, and those
    # (config.parsers) raise the problems defined in this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, ctx)
    if response is None:
        return None  # unexpected: Django logs it and the middleware renders a 500 problem

    status = response.status_code
    if isinstance(exc, Problem):
        body = problem_body(
            status=status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail_text,
            errors=exc.errors,
        )
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        errors = pointer_errors(exc.detail)
        body = problem_body(
            status=status,
            code="validation-error",
            title="The request is not valid",
            detail=errors[0]["detail"] if len(errors) == 1 else "One or more fields are invalid.",
            errors=errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else None
        code = None
        if isinstance(exc, exceptions.Throttled):
            code = "rate-limited"
        body = problem_body(status=status, code=code, detail=str(detail) if detail else None)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


class ProblemErrorSerializer(serializers.Serializer):
    pointer = serializers.CharField(help_text="RFC 6901 JSON pointer into the request body.")
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 Problem Details, as every error response of this API."""

    type = serializers.CharField(help_text="`/problems/<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable kebab-case problem code.")
    request_id = serializers.CharField()
    errors = ProblemErrorSerializer(many=True)
