"""JSON log lines with request context, and the filter that keeps secrets out of them."""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from config import context

REDACTED = "[REDACTED]"

# Keys whose values are never logged, wherever they appear (extra fields, dict args, nested).
SENSITIVE_KEYS = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|authorization|cookie|session|"
    r"encrypted|private[_-]?key|signature|csrf|ticket",
    re.IGNORECASE,
)
# Patterns inside free text: `password=…`, `"api_secret": "…"`, `Token abc…`, password hashes.
_TEXT_PATTERNS = [
    re.compile(
        r"(?P<key>(?:pass(?:word|wd|phrase)?|secret|api[_-]?key|api[_-]?secret|token|ticket)"
        r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',&}]+)",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<key>\b(?:Token|Bearer)\s+)(?P<value>[A-Za-z0-9._\-]{8,})"),
    # "token <long value>" in prose: only long values, so "token expired" stays readable.
    re.compile(
        r"(?P<key>\b(?:token|secret|password|passphrase|api[_-]?key)\s+)(?P<value>[^\s\"',]{16,})",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<key>)(?P<value>\b(?:pbkdf2_sha256|argon2|bcrypt|md5)\$[^\s\"']+)"),
]
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('key')}{REDACTED}", text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact `value` if its key is sensitive; walk dicts, lists and strings."""
    if key is not None and SENSITIVE_KEYS.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactionFilter(logging.Filter):
    """Scrub secrets from the message, its arguments and every extra field before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = redact_value(value, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class ContextFilter(logging.Filter):
    """Stamp every record with the request id, user id and workspace id of its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.snapshot().items():
            if not getattr(record, key, None):
                setattr(record, key, value or None)
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line: ts, level, logger, event and context fields first."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "ts")
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "message": "event"},
            *args,  # noqa: B026
            **kwargs,
        )
