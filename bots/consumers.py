"""Live streams of bots: a workspace's runs (the bots list) and one run (the bot page).

    /ws/v1/bots?workspace=<uuid>   every change of the workspace's runs   group workspace.<id>.bots
    /ws/v1/runs/<uuid>             every change of one run                group run.<id>

Both forward `run.changed` as bots.live announces it (`run`: state, position, PnL …; `event`:
the event that came with the change, or null), numbered by config.consumers.LiveConsumer. A
malformed workspace id is closed with 4400, a workspace the user is not a member of with 4403,
a run that is not in one of the user's workspaces with 4404 (like the API's 404). They read;
they never write.
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async

from bots import live, selectors
from config.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    LiveConsumer,
    StreamRefused,
    Subscription,
    query_params,
)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class _RunChanges(LiveConsumer):
    """Forwards `run.changed`; a run's events are numbered 1, 2, … (RunEvent.seq), so an event
    arriving after a hole in that numbering shows the hole as a gap in the stream's `seq`."""

    async def connect(self) -> None:
        self.event_seqs: dict[str, int] = {}  # run id → the last event seq forwarded
        await super().connect()

    def _missed(self, message: dict[str, Any]) -> int:
        event = message.get("event")
        if not event:
            return 0
        run_id = str(message["run"]["id"])
        last = self.event_seqs.get(run_id)
        seq = int(event["seq"])
        self.event_seqs[run_id] = max(seq, last or 0)
        # Unknown before this connection: the client's REST read covers what came earlier. Not
        # after the last one (a late announcement of an earlier event): nothing is missing.
        if last is None or seq <= last + 1:
            return 0
        return seq - last - 1

    async def run_changed(self, message: dict[str, Any]) -> None:
        await self.forward(message, missed=self._missed(message))


class BotsConsumer(_RunChanges):
    """`/ws/v1/bots?workspace=<uuid>`: the runs of one workspace, for its bots list."""

    async def subscribe(self, user) -> Subscription:
        workspace_id = _uuid(query_params(self.scope).get("workspace"))
        if workspace_id is None:
            raise StreamRefused(CLOSE_BAD_REQUEST, "workspace must be a UUID")
        if await self.membership(user, workspace_id) is None:
            raise StreamRefused(CLOSE_FORBIDDEN, "not a member of the workspace")
        return Subscription(
            stream=f"bots:{workspace_id}",
            groups=[live.workspace_group(workspace_id)],
            workspace_id=workspace_id,
        )


class RunConsumer(_RunChanges):
    """`/ws/v1/runs/<uuid>`: one run, for its bot's page."""

    async def subscribe(self, user) -> Subscription:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await database_sync_to_async(selectors.run)(run_id=run_id)
        # Another workspace's run is absent, as in the API.
        if run is None or await self.membership(user, run.workspace_id) is None:
            raise StreamRefused(CLOSE_NOT_FOUND, "no such run")
        return Subscription(
            stream=f"run:{run.pk}",
            groups=[live.run_group(run.pk)],
            workspace_id=run.workspace_id,
            hello={"run": str(run.pk), "bot": str(run.bot_id)},
        )
