"""Let request bodies reach Django unparsed when daphne serves them.

Twisted's `http.Request`, which daphne's requests extend, parses every form POST body itself
(into `request.args`, which daphne never reads) before daphne hands the raw body to the ASGI
application. A malformed multipart body then got twisted's bare 400 (no problem+json, no
request id) and a closed connection, and a well-formed upload (a lab CSV of up to 200 MB) was
held in memory a second time. Twisted's `parsePOSTFormSubmission=False` skips that parsing;
daphne does not expose it, so `skip_twisted_form_parsing()` makes it the default of daphne's
request class. Django's parser then answers a malformed body (400 problem+json).
"""

from __future__ import annotations

import functools
import inspect
import logging

logger = logging.getLogger(__name__)


def skip_twisted_form_parsing() -> bool:
    """Make daphne's requests skip twisted's form parsing; True when it is (or was) in effect."""
    try:
        from daphne.http_protocol import WebRequest
        from twisted.web.http import Request
    except ImportError:  # not served by daphne
        return False
    if getattr(WebRequest, "skips_form_parsing", False):
        return True
    if "parsePOSTFormSubmission" not in inspect.signature(Request.__init__).parameters:
        logger.warning("daphne.form_parsing_kept", extra={"reason": "twisted too old"})
        return False
    original = WebRequest.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    WebRequest.__init__ = __init__
    WebRequest.skips_form_parsing = True
    return True
