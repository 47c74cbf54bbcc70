"""DRF authentication classes that also put the caller on the log context."""

from __future__ import annotations

import binascii

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication as DrfSessionAuthentication

from config import context


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; tokens are stored hashed (SHA-512) and expire.

    One indexed query per request: the token's digest is the table's primary key, and an
    expired token is refused without being deleted. knox deletes the user's expired tokens on
    every request instead (about 2 ms of the order path); here the beat task
    `accounts.purge_expired_tokens` does it periodically.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            context.bind(user_id=result[0].pk)
        return result

    def authenticate_credentials(self, token: bytes):
        invalid = _("Invalid token.")
        try:
            digest = hash_token(token.decode("utf-8"))
        except (TypeError, UnicodeDecodeError, binascii.Error):
            raise exceptions.AuthenticationFailed(invalid) from None
        # A lookup by digest, not knox's loop over the tokens sharing a prefix: the digest is a
        # SHA-512 of the secret, so its comparison in the index reveals nothing usable. It is
        # the primary key: one row at most, read without an ORDER BY (as `first()` adds) or an
        # expiry condition to build; the expiry is checked on the row.
        try:
            auth_token = AuthToken.objects.select_related("user").get(digest=digest)
        except AuthToken.DoesNotExist:
            raise exceptions.AuthenticationFailed(invalid) from None
        if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
            raise exceptions.AuthenticationFailed(invalid)  # expired: refused, purged later
        if knox_settings.AUTO_REFRESH and auth_token.expiry:
            self.renew_token(auth_token)
        return self.validate_user(auth_token)


class SessionAuthentication(DrfSessionAuthentication):
    """The web UI's and the browsable API's session cookie (CSRF-checked for writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            context.bind(user_id=result[0].pk)
        return result
