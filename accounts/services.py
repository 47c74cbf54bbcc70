"""Account flows: register, log in (token or session), log out."""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from knox.models import AuthToken

from accounts.exceptions import InvalidCredentials
from accounts.models import User
from config.problems import ValidationProblem
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


def check_credentials(*, username: str, password: str) -> User:
    """Return the user for these credentials or raise InvalidCredentials (audited)."""
    user = authenticate(None, username=username, password=password)
    if user is None:
        # The attempted username is kept (it is what an operator investigates), never the password.
        record_audit(action="auth.login_failed", details={"username": username[:150]})
        logger.warning("accounts.login_failed", extra={"attempted_username": username[:150]})
        raise InvalidCredentials(detail="Wrong username or password.")
    return user


def issue_token(*, username: str, password: str) -> tuple[User, str, datetime]:
    """Log in for the API: a new expiring token, stored only as a hash. Returns the raw token."""
    user = check_credentials(username=username, password=password)
    instance, raw_token = AuthToken.objects.create(user=user)
    record_audit(actor=user, action="auth.login", details={"method": "token"})
    return user, raw_token, instance.expiry


def revoke_token(*, user: User, token: AuthToken | None) -> None:
    """Log out of the API: the token stops working at once."""
    if token is not None:
        token.delete()
    record_audit(actor=user, action="auth.token_revoked")
