"""Pushes of run changes to the channel layer, for the live bots page and run streams.

Every committed change of a run is announced to two groups: `workspace.<id>.bots` (the bots
list of a workspace) and `run.<id>` (one run's page). The message is
`{"type": "run.changed", "run": {…}, "event": {…} | None}`, with decimals as strings and times
in ISO 8601 UTC like the REST API, so a consumer can forward it as is. Sent through
`config.live.announce`: a channel layer that is down costs a warning, never the change itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bots.models import BotRun, RunEvent
from config.live import announce
from exchanges.numbers import plain_decimal

RUN_CHANGED = "run.changed"


def workspace_group(workspace_id) -> str:
    """The group every change of a workspace's runs is pushed to."""
    return f"workspace.{workspace_id}.bots"


def run_group(run_id) -> str:
    """The group every change of one run is pushed to."""
    return f"run.{run_id}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def run_message(run: BotRun, event: RunEvent | None = None) -> dict[str, Any]:
    """The channel-layer message announcing `run` as it is now (and the event that moved it)."""
    fields = (
        "state",
        "error_code",
        "position",
        "realized_pnl",
        "unrealized_pnl",
        "last_candle_ts",
        "started_at",
        "ended_at",
        "updated_at",
    )
    body = {
        "id": str(run.pk),
        "bot": str(run.bot_id),
        "workspace": str(run.workspace_id),
        **{name: _plain(getattr(run, name)) for name in fields},
    }
    message: dict[str, Any] = {"type": RUN_CHANGED, "run": body, "event": None}
    if event is not None:
        message["event"] = {
            "id": str(event.pk),
            "seq": event.seq,
            "kind": event.kind,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "error_code": event.error_code,
            "message": event.message,
            "data": event.data,
            "created_at": _plain(event.created_at),
        }
    return message


def announce_run_changed(run: BotRun, event: RunEvent | None = None) -> None:
    """Push `run`'s current state to its workspace's and its own group; never raises.

    Call it on commit (`transaction.on_commit`), so only committed changes are announced.
    A replay's run is not pushed: it is no live run, and its replay reports its own progress.
    """
    if run.replay_id is not None:
        return
    message = run_message(run, event)
    payload = {"run": message["run"], "event": message["event"]}
    for group in (workspace_group(run.workspace_id), run_group(run.pk)):
        announce(group, RUN_CHANGED, payload)
