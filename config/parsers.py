"""DRF parsers that enforce the API's input rules before any view sees the data.

docs/api.md ("Input rules") is the contract: a body (files aside) of at most
`DATA_UPLOAD_MAX_MEMORY_SIZE` bytes (413 `payload-too-large`), JSON nested at most
`MAX_JSON_DEPTH` levels (400 `too-deep`), and no string, key included, holding a NUL character or
a lone UTF-16 surrogate (400 `invalid-characters`, a pointer per string). PostgreSQL cannot store
a NUL and UTF-8 cannot encode a surrogate, so either would otherwise fail deep inside a view as a
500; deep nesting exhausted Python's stack in the parser or in the code that walks the data.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers

from config.problems import InvalidCharacters, TooDeep, payload_too_large

# Far deeper than any body the API documents (a strategy body nests about 24 levels at its
# deepest), far shallower than the ~900 at which Python's recursion limit ends the JSON parser.
MAX_JSON_DEPTH = 64
# A body full of bad strings gets this many pointers, not one per string.
MAX_REPORTED_STRINGS = 20


def string_problem(value: str) -> str | None:
    """Why `value` cannot be accepted (a NUL or a lone surrogate), or None when it can."""
    if "\x00" in value:
        return "NUL characters (\\u0000) are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Lone UTF-16 surrogates (\\ud800-\\udfff) are not allowed; send valid Unicode."
    return None


def _token(key: Any) -> str:
    """`key` as an RFC 6901 pointer token; a character that cannot be rendered becomes U+FFFD."""
    text = str(key).replace("~", "~0").replace("/", "~1")
    if string_problem(text) is None:
        return text
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def check_data(data: Any) -> None:
    """Raise TooDeep or InvalidCharacters for parsed JSON `data` that breaks the input rules.

    Walks iteratively, so no depth of `data` can exhaust the stack here.
    """
    bad: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, str):
            reason = string_problem(value)
            if reason:
                bad.append({"pointer": pointer, "detail": reason})
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise TooDeep(pointer, f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.")
            if isinstance(value, dict):
                for key, item in value.items():
                    child = f"{pointer}/{_token(key)}"
                    reason = string_problem(key)
                    if reason:
                        bad.append({"pointer": child, "detail": f"In the field name: {reason}"})
                    stack.append((item, child, depth + 1))
            else:
                stack.extend((item, f"{pointer}/{i}", depth + 1) for i, item in enumerate(value))
    if bad:
        bad.sort(key=lambda error: error["pointer"])
        raise InvalidCharacters(bad[:MAX_REPORTED_STRINGS])


def check_form(data: QueryDict) -> None:
    """Raise InvalidCharacters for form fields (names or values) with a NUL or lone surrogate."""
    bad = []
    for key, values in data.lists():
        pointer = f"/{_token(key)}"
        for reason in filter(None, (string_problem(key), *map(string_problem, values))):
            bad.append({"pointer": pointer, "detail": reason})
    if bad:
        raise InvalidCharacters(bad[:MAX_REPORTED_STRINGS])


def read_limited(stream) -> bytes:
    """The body from `stream`, or PayloadTooLarge once it passes DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise payload_too_large()
    return raw


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus the size, depth and string rules of the API."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_limited(stream)
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            # Python's parser gives up around 900 levels, before check_data could see them.
            raise TooDeep("", f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.") from None
        check_data(data)
        return data


class FormParser(parsers.FormParser):
    """DRF's form parser, plus the size and string rules of the API."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(io.BytesIO(read_limited(stream)), media_type, parser_context)
        check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser (Django limits the non-file part), plus the string rules."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        check_form(parsed.data)
        return parsed
