"""Registration, token login/logout, WebSocket tickets and the current user."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.serializers import (
    LoginResponseSerializer,
    LoginSerializer,
    MeSerializer,
    RegisterSerializer,
    UserSerializer,
    WsTicketSerializer,
)
from accounts.selectors import user_with_memberships
from config.problems import ProblemSerializer
from config.ratelimit import enforce


@extend_schema(tags=["auth"])
class RegisterView(APIView):
    """Create an account and its personal workspace (5 per 15 minutes per IP)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # no session, so no CSRF check for a sign-up form post

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request):
        enforce(request, group="auth.register", rate=settings.RATE_LIMIT_REGISTER)
        payload = RegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.register_user(**payload.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["auth"])
class LoginView(APIView):
    """Exchange username and password for an expiring API token (10 per minute per IP)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: LoginResponseSerializer,
            400: ProblemSerializer,
            401: ProblemSerializer,
            429: ProblemSerializer,
        },
    )
    def post(self, request):
        payload = LoginSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.log_in(request, **payload.validated_data, method="token")
        token, expiry = services.issue_token(user=user)
        body = {"token": token, "expiry": expiry, "user": user}
        return Response(LoginResponseSerializer(body).data)


@extend_schema(tags=["auth"])
class LogoutView(APIView):
    """Revoke the token this request was made with, and end the session it carries."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token = request.auth if isinstance(request.auth, AuthToken) else None
        services.log_out(request, user=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class MeView(APIView):
    """The signed-in user and the workspaces they belong to."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(user_with_memberships(user=request.user)).data)


@extend_schema(tags=["auth"])
class WsTicketView(APIView):
    """A single-use ticket for one WebSocket handshake, for clients without the session cookie."""

    @extend_schema(
        summary="Issue a WebSocket ticket",
        description=(
            "Returns a ticket that authenticates one WebSocket as the caller: pass it as "
            "`?ticket=<ticket>` on `/ws/v1/…`. It is single-use (the handshake consumes it) and "
            "expires after `WS_TICKET_TTL_SECONDS` (30 s by default); only its hash is stored. "
            "Browsers signed in with the session cookie need none. Never put a token or a "
            "password in a WebSocket URL."
        ),
        request=None,
        responses={200: WsTicketSerializer, 401: ProblemSerializer},
    )
    def post(self, request):
        ticket, expires_at = services.issue_ws_ticket(user=request.user)
        return Response(WsTicketSerializer({"ticket": ticket, "expires_at": expires_at}).data)
