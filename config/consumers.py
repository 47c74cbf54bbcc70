"""What every WebSocket stream shares: who connects, from where, and how messages are numbered.

The ASGI stack (config/asgi.py) is `SiteOriginValidator(AuthMiddlewareStack(
TicketAuthMiddleware(URLRouter(...))))`:

- **Origin.** A handshake whose `Origin` is not this site (ALLOWED_HOSTS) or one of the trusted
  origins (CSRF_TRUSTED_ORIGINS, CORS_ALLOWED_ORIGINS) is refused before any consumer runs (HTTP
  403). Browsers always send an Origin; a handshake without one comes from a program, which may
  authenticate with a ticket only: its cookie header is dropped, so no page of another site can
  ride the session.
- **Who.** The session cookie (channels' AuthMiddlewareStack), or `?ticket=` from
  `POST /api/v1/auth/ws-ticket`, single-use and short-lived (`accounts.services.redeem_ws_ticket`).
  A ticket that is unknown, expired or used already leaves the socket anonymous, whatever the
  cookie says. Never a token in a URL.

`LiveConsumer` is the base of every stream (bots, runs, the status board). It accepts the
handshake and then either closes it with a code saying why (4400 bad request, 4401 not signed
in, 4403 not a member, 4404 no such object; a client does not retry those) or joins the stream's
channel-layer groups and forwards what is announced there (config.live). Every message carries
`stream` and `seq`: 1 for the `hello` sent once the groups are joined, then +1 per message,
heartbeats included. A client that sees a number skipped, or that reconnects, reads the REST API
again: a stream is a hint, the API the record. A stream that knows it lost messages (a subclass's
`missed`) skips as many numbers, so the client sees the gap. Consumers read (memberships, the
object a stream is about) but never write to the database.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

logger = logging.getLogger(__name__)

# Close codes (4000 to 4999 are the application's); a client stops reconnecting on these.
CLOSE_BAD_REQUEST = 4400  # a malformed parameter (e.g. ?workspace= not a UUID)
CLOSE_UNAUTHENTICATED = 4401  # no session and no valid ticket
CLOSE_FORBIDDEN = 4403  # not a member of the workspace (or no longer)
CLOSE_NOT_FOUND = 4404  # no such object in a workspace of the user (another's is absent too)
FINAL_CLOSE_CODES = (CLOSE_BAD_REQUEST, CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND)

MAX_TICKET_LENGTH = 128


def query_params(scope) -> dict[str, str]:
    """The handshake's query parameters, the first value of each."""
    raw = scope.get("query_string", b"").decode("latin1")
    return {key: values[0] for key, values in parse_qs(raw, max_num_fields=20).items()}


def trusted_origins() -> list[str]:
    """Patterns an Origin may match: this site's hosts and the origins trusted for CSRF/CORS."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # Django's own default for a development server
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return [*hosts, *settings.CSRF_TRUSTED_ORIGINS, *settings.CORS_ALLOWED_ORIGINS]


class SiteOriginValidator(OriginValidator):
    """Refuse a handshake from a foreign Origin; without an Origin, drop the cookie header."""

    def __init__(self, application):
        self.application = application  # the patterns are read per handshake, from settings

    @property
    def allowed_origins(self) -> list[str]:
        return trusted_origins()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        if not origins:
            headers = [(n, v) for n, v in scope.get("headers", []) if n != b"cookie"]
            return await self.application(dict(scope, headers=headers), receive, send)
        try:
            parsed = urlparse(origins[0].decode("latin1"))
        except (UnicodeDecodeError, ValueError):
            parsed = None
        # An opaque origin ("null": sandboxed frames, files) matches no pattern.
        if parsed is not None and self.validate_origin(parsed):
            return await self.application(scope, receive, send)
        logger.warning("live.origin_refused", extra={"path": scope.get("path", "")})
        return await WebsocketDenier()(scope, receive, send)


class TicketAuthMiddleware:
    """`?ticket=` authenticates the socket as the ticket's user (and consumes the ticket)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            ticket = query_params(scope).get("ticket")
            if ticket is not None:
                from accounts.services import redeem_ws_ticket

                user = None
                if len(ticket) <= MAX_TICKET_LENGTH:
                    user = await database_sync_to_async(redeem_ws_ticket)(ticket)
                # A ticket that does not work is a refusal, not a fallback to the cookie.
                scope = dict(scope, user=user or AnonymousUser(), auth_method="ticket")
            else:
                scope = dict(scope, auth_method="session")
        return await self.application(scope, receive, send)


class StreamRefused(Exception):
    """Raised by `LiveConsumer.subscribe` to close the socket with `code`."""

    def __init__(self, code: int, reason: str = ""):
        super().__init__(reason or str(code))
        self.code = code


@dataclass
class Subscription:
    """What a socket listens to: its stream's name (in every message), the channel-layer
    groups it joins, and the workspace whose membership it needs (re-checked at each beat)."""

    stream: str
    groups: list[str]
    workspace_id: Any = None
    hello: dict[str, Any] = field(default_factory=dict)  # extra fields of the hello message


def _membership(user, workspace_id):
    from workspaces import selectors

    return selectors.membership(user=user, workspace_id=workspace_id)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Base of every stream: authenticate, authorise, join groups, number and beat.

    Subclasses implement `subscribe(user)` (return a Subscription, or raise StreamRefused) and
    one handler per channel-layer message type, which calls `forward`.
    """

    heartbeat_seconds: float | None = None  # None: settings.WS_HEARTBEAT_SECONDS

    async def connect(self) -> None:
        self.seq = 0
        self.subscription: Subscription | None = None
        self.beat_task: asyncio.Task | None = None
        # Accept first: a close code reaches the client only after the handshake (a refused
        # handshake is a bare HTTP 403, which a browser cannot tell from a network failure).
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            subscription = await self.subscribe(user)
        except StreamRefused as refusal:
            logger.info(
                "live.refused", extra={"path": self.scope.get("path", ""), "code": refusal.code}
            )
            await self.close(code=refusal.code)
            return
        for group in subscription.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.subscription = subscription
        beat = self.heartbeat_seconds or settings.WS_HEARTBEAT_SECONDS
        # Joined before the hello: whatever is announced after it reaches this socket, so a
        # client that reads the REST API on hello misses nothing.
        await self.send_message("hello", heartbeat_seconds=beat, **subscription.hello)
        self.beat_task = asyncio.ensure_future(self._beat(beat))

    async def subscribe(self, user) -> Subscription:
        """The stream `user` asks for, checked; raise StreamRefused(code) to refuse it."""
        raise NotImplementedError

    async def disconnect(self, code) -> None:
        if self.beat_task is not None:
            self.beat_task.cancel()
        if self.subscription is not None:
            for group in self.subscription.groups:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Streams are one-way: whatever a client sends is ignored."""

    # --- sending ---------------------------------------------------------------------------

    async def send_message(self, message_type: str, *, missed: int = 0, **payload) -> None:
        """Send `{"type", "stream", "seq", **payload}`; `missed` messages known lost before
        this one skip as many numbers."""
        self.seq += missed + 1
        stream = self.subscription.stream if self.subscription else ""
        await self.send_json({"type": message_type, "stream": stream, "seq": self.seq, **payload})

    async def forward(self, message: dict[str, Any], *, missed: int = 0) -> None:
        """Forward a channel-layer message (`{"type": "run.changed", …}`) to the client as is."""
        payload = {key: value for key, value in message.items() if key != "type"}
        await self.send_message(message["type"], missed=missed, **payload)

    # --- the heartbeat ---------------------------------------------------------------------

    async def still_allowed(self) -> bool:
        """Whether the user may still read the stream (checked at each beat)."""
        workspace_id = self.subscription.workspace_id if self.subscription else None
        if workspace_id is None:
            return True
        return await self.membership(self.scope["user"], workspace_id) is not None

    async def _beat(self, seconds: float) -> None:
        try:
            while True:
                await asyncio.sleep(seconds)
                if not await self.still_allowed():
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
                now = timezone.now().isoformat().replace("+00:00", "Z")
                await self.send_message("heartbeat", ts=now)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A beat that fails (the database away for a moment) must not kill the stream
            # silently: the client's watchdog notices the missing beats and reconnects.
            logger.exception("live.heartbeat_failed", extra={"path": self.scope.get("path", "")})

    # --- helpers for subclasses -------------------------------------------------------------

    async def membership(self, user, workspace_id):
        """`user`'s membership of the workspace `workspace_id`, or None."""
        return await database_sync_to_async(_membership)(user, workspace_id)


class UnknownStreamConsumer(AsyncJsonWebsocketConsumer):
    """The last route: a path no stream serves is closed with 4404, not an ASGI error."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
