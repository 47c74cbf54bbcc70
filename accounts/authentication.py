"""DRF authentication classes that also put the caller on the log context."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.authentication import SessionAuthentication as DrfSessionAuthentication

from config import context


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; tokens are stored hashed (SHA-512) and expire."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            context.bind(user_id=result[0].pk)
        return result


class SessionAuthentication(DrfSessionAuthentication):
    """The web UI's and the browsable API's session cookie (CSRF-checked for writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            context.bind(user_id=result[0].pk)
        return result
