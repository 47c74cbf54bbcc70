"""Account flows: register, log in (every login form), tokens, WebSocket tickets, log out."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate, get_user, logout
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import AuthToken

from accounts.exceptions import InvalidCredentials
from accounts.models import User
from config.problems import RateLimited, ValidationProblem
from config.ratelimit import usage
from workspaces.services import create_workspace, record_audit

logger = logging.getLogger(__name__)


def _check_unique(*, username: str, email: str) -> list[dict[str, str]]:
    errors = []
    if User.objects.filter(username__iexact=username).exists():
        errors.append({"pointer": "/username", "detail": "This username is taken."})
    if User.objects.filter(email__iexact=email).exists():
        errors.append({"pointer": "/email", "detail": "An account with this e-mail exists."})
    return errors


@transaction.atomic
def register_user(*, username: str, email: str, password: str) -> User:
    """Create a user with a personal workspace they own.

    Raises ValidationProblem with pointers for a taken username/e-mail or a weak password.
    """
    errors = _check_unique(username=username, email=email)
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors.extend({"pointer": "/password", "detail": message} for message in exc.messages)
    if errors:
        raise ValidationProblem(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        # A concurrent registration won the race between the check and the insert.
        raise ValidationProblem(
            _check_unique(username=username, email=email)
            or [{"pointer": "/username", "detail": "This username is taken."}]
        ) from None
    workspace = create_workspace(name=f"{username}'s workspace", owner=user)
    record_audit(actor=user, workspace=workspace, action="auth.register", target=user)
    logger.info("accounts.registered", extra={"new_user_id": str(user.pk)})
    return user


# What each login form writes in its audit rows' `method`.
LOGIN_METHODS = ("token", "session", "browsable-api", "admin")


def log_in(
    request,
    *,
    username: str,
    password: str,
    method: str,
    allowed: Callable[[User], bool] | None = None,
) -> User:
    """The one check behind every login form: the per-IP login limit, the credentials, and the
    audit trail (`auth.login`, `auth.login_failed`). Returns the user; establishing a session
    or issuing a token is the caller's part.

    `method` is one of LOGIN_METHODS; `allowed` narrows who may sign in on that form (the admin
    console: staff), answered like wrong credentials. Raises RateLimited (10 attempts a minute
    per client IP by default, RATE_LIMIT_LOGIN, shared by all forms) or InvalidCredentials.
    Unlike other services it takes the request: the limit is counted per client IP, and
    Django's authentication backends receive the request.
    """
    attempted = username[:150]  # kept for the operator, never the password
    budget = usage(request, group="auth.login", rate=settings.RATE_LIMIT_LOGIN)
    if budget and budget["should_limit"]:
        if budget["count"] == budget["limit"] + 1:
            # Only the first refused attempt of a window is written: a flood of guesses must
            # not become a flood of audit rows.
            record_audit(
                action="auth.login_failed",
                details={"username": attempted, "method": method, "reason": "rate-limited"},
            )
        logger.warning("accounts.login_limited", extra={"method": method})
        raise RateLimited(retry_after=budget["time_left"])
    user = authenticate(request, username=username, password=password)
    if user is None or (allowed is not None and not allowed(user)):
        record_audit(action="auth.login_failed", details={"username": attempted, "method": method})
        logger.warning(
            "accounts.login_failed", extra={"attempted_username": attempted, "method": method}
        )
        raise InvalidCredentials(detail="Wrong username or password.")
    record_audit(actor=user, action="auth.login", details={"method": method})
    return user


def issue_token(*, user: User) -> tuple[str, datetime]:
    """A new expiring API token for `user` (who just logged in), stored only as a hash.

    Returns the raw token, which exists only in this response, and its expiry."""
    instance, raw_token = AuthToken.objects.create(user=user)
    return raw_token, instance.expiry


def log_out(request, *, user: User, token: AuthToken | None) -> None:
    """End what authenticates this request: revoke `token` (token auth) and end the session
    (session cookie), both when both are there. Audited as `auth.token_revoked` and
    `auth.logout`."""
    if token is not None:
        token.delete()
        record_audit(actor=user, action="auth.token_revoked")
    django_request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    # The session's own login, not `request.user`: DRF sets that for token requests too.
    session = getattr(django_request, "session", None)
    if session is not None and session.get(SESSION_KEY):
        session_user = get_user(django_request)
        record_audit(actor=session_user, action="auth.logout", details={"method": "session"})
        logout(django_request)  # flushes the session: its cookie stops working at once


def purge_expired_tokens() -> int:
    """Delete API tokens past their expiry; returns how many.

    Expired tokens are refused at authentication already (accounts.authentication), so this
    only keeps the table small; it runs from beat (`accounts.purge_expired_tokens`).
    """
    deleted, _by_model = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    if deleted:
        logger.info("accounts.tokens_purged", extra={"count": deleted})
    return deleted


# --- WebSocket tickets ----------------------------------------------------------------------

WS_TICKET_KEY = "ws-ticket:{digest}"


def _ws_ticket_key(ticket: str) -> str:
    # Only the hash is stored: whoever reads the cache cannot open a socket with what it finds.
    return WS_TICKET_KEY.format(digest=hashlib.sha256(ticket.encode()).hexdigest())


def issue_ws_ticket(*, user: User) -> tuple[str, datetime]:
    """A single-use ticket that opens one WebSocket as `user` (who is authenticated now) within
    WS_TICKET_TTL_SECONDS; kept in the cache as a hash. Returns the raw ticket and its expiry.

    For clients that cannot send the session cookie with the handshake; it goes in the URL
    (`?ticket=`), so it is worthless once used or a few seconds old, unlike a token.
    """
    ticket = secrets.token_urlsafe(32)
    ttl = settings.WS_TICKET_TTL_SECONDS
    cache.set(_ws_ticket_key(ticket), str(user.pk), timeout=ttl)
    logger.info("accounts.ws_ticket_issued", extra={"ttl_seconds": ttl})
    return ticket, timezone.now() + timedelta(seconds=ttl)


def redeem_ws_ticket(ticket: str) -> User | None:
    """The active user `ticket` was issued to, consuming it; None when it is unknown, expired,
    already used, or its user is gone or inactive.

    Atomic: the cache's DEL reports whether this call removed the key, so of two sockets
    presenting the same ticket at once only one gets the user.
    """
    if not ticket or len(ticket) > 128:
        return None
    key = _ws_ticket_key(ticket)
    user_id = cache.get(key)
    if user_id is None or not cache.delete(key):
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()
