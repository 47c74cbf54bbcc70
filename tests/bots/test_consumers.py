"""The live streams of bots through the whole WebSocket stack of config.asgi: the Origin check,
the session cookie or a ticket, membership, numbering, heartbeats and pushes on commit.

Real transactions (a push goes out on commit) and the real Redis channel layer; each socket runs
on an event loop of its own, in a thread, while the test changes runs from its own thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import pytest
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from accounts.services import issue_ws_ticket
from bots import services
from bots.live import RUN_CHANGED, run_group
from bots.models import BotRun
from config.asgi import application
from config.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
)
from config.live import announce
from tests.bots.factories import BotFactory, BotRunFactory
from tests.conftest import _member
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db(transaction=True)

SITE = b"http://testserver"
State = BotRun.State


class Loop:
    """One event loop in a thread for every socket of a test, with a channel layer of its own.

    channels_redis lets one loop at a time receive on a layer instance, so the test's sockets
    share this loop, and the layer (the process's default, which the code under test announces
    through) is a fresh instance, closed with the loop.
    """

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.previous = channel_layers.backends.get(DEFAULT_CHANNEL_LAYER)
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        channel_layers.backends[DEFAULT_CHANNEL_LAYER] = self.layer

    def run(self, coroutine, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.layer.close_pools())
        if self.previous is None:
            channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
        else:
            channel_layers.backends[DEFAULT_CHANNEL_LAYER] = self.previous
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Socket:
    """A WebSocket client of config.asgi.application, driven from the test's thread."""

    def __init__(self, loop: Loop, path: str, *, origin: bytes | None = SITE, cookie=None):
        headers = []
        if origin is not None:
            headers.append((b"origin", origin))
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        self._run = loop.run
        self.communicator = self._run(self._make(path, headers))

    async def _make(self, path, headers):
        return WebsocketCommunicator(application, path, headers=headers)

    def connect(self) -> bool:
        """Whether the handshake was accepted."""
        accepted, _detail = self._run(self.communicator.connect(timeout=10))
        return accepted

    def next(self, timeout: float = 10) -> dict:
        """The next JSON message; AssertionError if the socket closes instead."""
        output = self._run(self.communicator.receive_output(timeout))
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    def close_code(self, timeout: float = 10) -> int:
        """The code of the close the server sends next."""
        output = self._run(self.communicator.receive_output(timeout))
        assert output["type"] == "websocket.close", output
        return output["code"]

    def close_code_after_beats(self, timeout: float = 10) -> int:
        """The code of the server's next close, skipping the heartbeats before it."""
        while True:
            output = self._run(self.communicator.receive_output(timeout))
            if output["type"] == "websocket.close":
                return output["code"]
            assert '"heartbeat"' in output["text"], output

    def nothing(self, timeout: float = 0.5) -> bool:
        return self._run(self.communicator.receive_nothing(timeout))

    def send_text(self, text: str) -> None:
        self._run(self.communicator.send_to(text_data=text))

    def close(self) -> None:
        try:
            self._run(self.communicator.disconnect(timeout=5))
        except Exception:  # noqa: S110 (closed by the server already: nothing left to end)
            pass


@pytest.fixture
def sockets():
    """Open sockets with `sockets(path, …)`; all are closed at the end of the test."""
    loop = Loop()
    opened: list[Socket] = []

    def open_socket(path: str, **options) -> Socket:
        socket = Socket(loop, path, **options)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        socket.close()
    loop.close()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def outsider(other_workspace):
    return _member(other_workspace, Role.OWNER)


@pytest.fixture
def running(workspace):
    """A RUNNING run of a bot of workspace A."""
    return BotRunFactory(workspace=workspace, state=State.RUNNING)


def open_stream(sockets, path: str, user) -> tuple[Socket, dict]:
    socket = sockets(path, cookie=session_cookie(user))
    assert socket.connect()
    hello = socket.next()
    assert hello["type"] == "hello"
    return socket, hello


# --- pushes -------------------------------------------------------------------------------------


def test_a_state_change_reaches_the_run_stream_once_committed(sockets, trader, running):
    socket, hello = open_stream(sockets, f"/ws/v1/runs/{running.pk}", trader)
    assert hello == {
        "type": "hello",
        "stream": f"run:{running.pk}",
        "seq": 1,
        "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
        "run": str(running.pk),
        "bot": str(running.bot_id),
    }

    with transaction.atomic():
        services.transition(running, State.STOPPING, message="stop asked")
        assert socket.nothing()  # not before the commit

    message = socket.next()
    assert message["type"] == RUN_CHANGED
    assert (message["stream"], message["seq"]) == (f"run:{running.pk}", 2)
    assert message["run"]["id"] == str(running.pk)
    assert message["run"]["state"] == State.STOPPING
    assert message["run"]["position"] == "0"
    assert message["event"]["to_state"] == State.STOPPING
    assert message["event"]["from_state"] == State.RUNNING
    assert message["event"]["message"] == "stop asked"
    assert socket.nothing()  # one change, one message


def stop_in_work_that_fails(run: BotRun) -> None:
    with transaction.atomic():
        services.transition(run, State.STOPPING)
        raise RuntimeError("the surrounding work failed")


def test_a_rolled_back_change_never_reaches_the_socket(sockets, trader, running):
    socket, _hello = open_stream(sockets, f"/ws/v1/runs/{running.pk}", trader)

    with pytest.raises(RuntimeError):
        stop_in_work_that_fails(running)

    assert socket.nothing()
    assert BotRun.objects.get(pk=running.pk).state == State.RUNNING


def test_the_workspace_stream_carries_every_run_of_the_workspace_and_no_other(
    sockets, workspace, other_workspace, trader, running
):
    socket, hello = open_stream(sockets, f"/ws/v1/bots?workspace={workspace.pk}", trader)
    assert hello["stream"] == f"bots:{workspace.pk}"
    second = BotRunFactory(workspace=workspace, state=State.QUEUED)
    theirs = BotRunFactory(workspace=other_workspace, state=State.RUNNING)

    services.transition(theirs, State.STOPPING)
    services.transition(running, State.STOPPING)
    services.transition(second, State.STARTING)

    first, then = socket.next(), socket.next()
    assert [(m["seq"], m["run"]["id"], m["run"]["state"]) for m in (first, then)] == [
        (2, str(running.pk), State.STOPPING),
        (3, str(second.pk), State.STARTING),
    ]
    assert socket.nothing()  # the other workspace's run is not in this stream


def test_numbers_rise_by_one_across_heartbeats_and_changes(sockets, settings, trader, running):
    settings.WS_HEARTBEAT_SECONDS = 0.3
    socket, hello = open_stream(sockets, f"/ws/v1/runs/{running.pk}", trader)
    assert hello["heartbeat_seconds"] == 0.3

    beat = socket.next()
    services.transition(running, State.STOPPING)
    messages = [beat]
    while not any(m["type"] == RUN_CHANGED for m in messages):
        messages.append(socket.next())
    messages.append(socket.next())  # and a beat after the change

    assert beat["type"] == "heartbeat"
    assert beat["ts"].endswith("Z")
    assert [m["seq"] for m in [hello, *messages]] == list(range(1, len(messages) + 2))
    assert {m["type"] for m in messages} == {"heartbeat", RUN_CHANGED}


def test_a_hole_in_a_runs_event_trail_shows_as_a_gap_in_the_stream(sockets, trader, running):
    socket, _hello = open_stream(sockets, f"/ws/v1/runs/{running.pk}", trader)
    run = {"id": str(running.pk), "state": State.RUNNING}

    def push(event_seq: int) -> dict:
        event = {"id": str(uuid.uuid4()), "seq": event_seq, "kind": "signal"}
        announce(run_group(running.pk), RUN_CHANGED, {"run": run, "event": event})
        return socket.next()

    assert push(1)["seq"] == 2
    assert push(2)["seq"] == 3
    # Events 3 and 4 never arrived: two numbers are skipped, the client sees the gap.
    assert push(5)["seq"] == 6
    # A late announcement of an earlier event is forwarded without a new gap.
    assert push(4)["seq"] == 7


def test_what_a_client_sends_is_ignored(sockets, settings, trader, running):
    settings.WS_HEARTBEAT_SECONDS = 0.3
    socket, _hello = open_stream(sockets, f"/ws/v1/runs/{running.pk}", trader)

    socket.send_text("not json {")
    socket.send_text('{"type": "run.changed", "run": {}}')

    beat = socket.next()
    assert (beat["type"], beat["seq"]) == ("heartbeat", 2)


# --- who may listen -----------------------------------------------------------------------------


def test_a_ticket_opens_one_socket_without_the_cookie(sockets, trader_api, running):
    response = trader_api.post("/api/v1/auth/ws-ticket")
    assert response.status_code == 200
    ticket = response.json()["ticket"]

    socket = sockets(f"/ws/v1/runs/{running.pk}?ticket={ticket}")
    assert socket.connect()
    assert socket.next()["type"] == "hello"
    services.transition(running, State.STOPPING)
    assert socket.next()["run"]["state"] == State.STOPPING


def test_a_reused_ticket_is_refused(sockets, trader, running):
    ticket, _expires_at = issue_ws_ticket(user=trader)
    first = sockets(f"/ws/v1/runs/{running.pk}?ticket={ticket}")
    assert first.connect()
    assert first.next()["type"] == "hello"

    again = sockets(f"/ws/v1/runs/{running.pk}?ticket={ticket}")
    assert again.connect()
    assert again.close_code() == CLOSE_UNAUTHENTICATED


def test_a_failing_ticket_is_refused_even_with_a_valid_cookie(sockets, trader, running):
    socket = sockets(f"/ws/v1/runs/{running.pk}?ticket=made-up", cookie=session_cookie(trader))
    assert socket.connect()
    assert socket.close_code() == CLOSE_UNAUTHENTICATED


def test_an_expired_ticket_is_refused(sockets, settings, trader, running):
    settings.WS_TICKET_TTL_SECONDS = 1
    ticket, _expires_at = issue_ws_ticket(user=trader)
    time.sleep(1.2)

    socket = sockets(f"/ws/v1/runs/{running.pk}?ticket={ticket}")
    assert socket.connect()
    assert socket.close_code() == CLOSE_UNAUTHENTICATED


def test_a_foreign_origin_is_refused_at_the_handshake(sockets, trader, running):
    socket = sockets(
        f"/ws/v1/runs/{running.pk}", origin=b"https://evil.example", cookie=session_cookie(trader)
    )
    assert not socket.connect()


def test_a_trusted_origin_of_another_host_is_accepted(sockets, trader, running):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "CSRF_TRUSTED_ORIGINS", ["https://app.example"])
        cookie = session_cookie(trader)
        socket = sockets(f"/ws/v1/runs/{running.pk}", origin=b"https://app.example", cookie=cookie)
        assert socket.connect()
        assert socket.next()["type"] == "hello"


def test_without_an_origin_only_a_ticket_authenticates(sockets, trader, running):
    cookie_only = sockets(f"/ws/v1/runs/{running.pk}", origin=None, cookie=session_cookie(trader))
    assert cookie_only.connect()
    assert cookie_only.close_code() == CLOSE_UNAUTHENTICATED

    ticket, _expires_at = issue_ws_ticket(user=trader)
    with_ticket = sockets(f"/ws/v1/runs/{running.pk}?ticket={ticket}", origin=None)
    assert with_ticket.connect()
    assert with_ticket.next()["type"] == "hello"


def test_an_anonymous_socket_is_closed_with_4401(sockets, workspace, running):
    for path in (f"/ws/v1/runs/{running.pk}", f"/ws/v1/bots?workspace={workspace.pk}"):
        socket = sockets(path)
        assert socket.connect()
        assert socket.close_code() == CLOSE_UNAUTHENTICATED


def test_a_non_member_is_refused(sockets, workspace, outsider, running):
    cookie = session_cookie(outsider)
    stream = sockets(f"/ws/v1/bots?workspace={workspace.pk}", cookie=cookie)
    assert stream.connect()
    assert stream.close_code() == CLOSE_FORBIDDEN

    # Another workspace's run is absent, as in the API.
    run_stream = sockets(f"/ws/v1/runs/{running.pk}", cookie=cookie)
    assert run_stream.connect()
    assert run_stream.close_code() == CLOSE_NOT_FOUND


def test_malformed_and_unknown_streams_are_closed_with_their_codes(sockets, trader):
    cookie = session_cookie(trader)
    for path, code in (
        ("/ws/v1/bots", CLOSE_BAD_REQUEST),
        ("/ws/v1/bots?workspace=nope", CLOSE_BAD_REQUEST),
        (f"/ws/v1/runs/{uuid.uuid4()}", CLOSE_NOT_FOUND),
        ("/ws/v1/elsewhere", CLOSE_NOT_FOUND),
    ):
        socket = sockets(path, cookie=cookie)
        assert socket.connect(), path
        assert socket.close_code() == code, path


def test_a_member_removed_while_listening_is_closed_at_the_next_beat(
    sockets, settings, workspace, trader, running
):
    settings.WS_HEARTBEAT_SECONDS = 0.3
    socket, _hello = open_stream(sockets, f"/ws/v1/bots?workspace={workspace.pk}", trader)
    assert socket.next()["type"] == "heartbeat"

    Membership.objects.filter(workspace=workspace, user=trader).delete()

    assert socket.close_code_after_beats() == CLOSE_FORBIDDEN


def test_a_viewer_may_listen(sockets, workspace, running):
    viewer = _member(workspace, Role.VIEWER)
    socket, _hello = open_stream(sockets, f"/ws/v1/bots?workspace={workspace.pk}", viewer)
    services.transition(running, State.STOPPING)
    assert socket.next()["run"]["state"] == State.STOPPING


def test_tickets_are_stored_only_as_hashes(trader):
    ticket, _expires_at = issue_ws_ticket(user=trader)
    client = cache._cache.get_client(None, write=False)
    keys = [key.decode() for key in client.scan_iter(match="*ws-ticket:*")]
    assert keys
    assert all(ticket not in key for key in keys)
    assert all(ticket.encode() not in (client.get(key) or b"") for key in keys)


def test_a_bot_of_the_workspace_appears_with_its_first_run(sockets, monkeypatch, workspace, trader):
    from bots import tasks

    monkeypatch.setattr(tasks.start_run_task, "delay_on_commit", lambda **kwargs: None)
    bot = BotFactory(workspace=workspace)
    socket, _hello = open_stream(sockets, f"/ws/v1/bots?workspace={workspace.pk}", trader)

    run = services.start_run(bot=bot, actor=trader)

    message = socket.next()
    assert message["run"]["id"] == str(run.pk)
    assert message["run"]["bot"] == str(bot.pk)
    assert message["run"]["state"] == State.QUEUED
