"""Bot and run flows: create, change and delete bots; start, stop, time out and fail runs.

Every change of a run's state goes through `transition()`, which owns the table of allowed
moves, writes the run's `RunEvent` and announces the change once it is committed. Calls to an
exchange (the symbol check of a bot, the lookback of a starting run) are made outside any
transaction, so a slow venue never holds a row lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from bots import selectors
from bots.exceptions import (
    BotHasActiveRun,
    IllegalTransition,
    LiveModeNotApproved,
    RunAlreadyActive,
    RunNotActive,
    StartFailure,
)
from bots.live import announce_run_changed
from bots.models import TERMINAL_RUN_STATES, Bot, BotRun, RunEvent
from config import context
from config.problems import Problem, ValidationProblem
from exchanges.factory import gateway_for
from exchanges.gateway import DEMO_EXCHANGE, Gateway
from exchanges.models import ExchangeConnection
from exchanges.numbers import plain_decimal
from exchanges.timeframes import TIMEFRAME_MS
from strategies.dsl import InvalidBody
from strategies.engine import compile_strategy
from strategies.models import StrategyVersion
from workspaces.exceptions import WorkspaceObjectNotFound
from workspaces.models import Workspace
from workspaces.services import record_audit

logger = logging.getLogger(__name__)

State = BotRun.State
Kind = RunEvent.Kind

# The one table of a run's moves: a state not listed as a key's value cannot follow it.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    State.QUEUED: frozenset({State.STARTING, State.STOPPING, State.FAILED}),
    State.STARTING: frozenset({State.RUNNING, State.STOPPING, State.FAILED}),
    State.RUNNING: frozenset({State.STOPPING, State.FAILED, State.TIMED_OUT}),
    State.STOPPING: frozenset({State.STOPPED, State.FAILED}),
    State.STOPPED: frozenset(),
    State.FAILED: frozenset(),
    State.TIMED_OUT: frozenset(),
}

# Run error codes (UPPER_SNAKE). Exchange problems become their problem code in upper snake
# case: exchange-unreachable → EXCHANGE_UNREACHABLE, unknown-symbol → UNKNOWN_SYMBOL, ….
MAX_DURATION_EXCEEDED = "MAX_DURATION_EXCEEDED"
NOT_ENOUGH_CANDLES = "NOT_ENOUGH_CANDLES"
STRATEGY_INVALID = "STRATEGY_INVALID"
START_TIMEOUT = "START_TIMEOUT"
INTERNAL_ERROR = "INTERNAL_ERROR"

NAME_TAKEN = "A bot with this name already exists in the workspace."
MESSAGE_MAX = 500  # RunEvent.message
# Candles asked per fetch_ohlcv call while loading a lookback: the most Binance (and the demo
# venue) return in one answer.
OHLCV_PAGE = 1000


# --------------------------------------------------------------------------- the trail


def record_event(
    run: BotRun,
    *,
    kind: str,
    from_state: str = "",
    to_state: str = "",
    error_code: str = "",
    message: str = "",
    data: Mapping[str, Any] | None = None,
) -> RunEvent:
    """Append an event to `run`'s trail, stamped with the current request id.

    The caller holds the run's row lock (or created the run) in the current transaction: the
    lock is what keeps `seq` gapless and in order when workers write events of one run.
    """
    last = RunEvent.objects.filter(run=run).aggregate(last=Max("seq"))["last"] or 0
    return RunEvent.objects.create(
        run=run,
        seq=last + 1,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        error_code=error_code,
        message=message[:MESSAGE_MAX],
        data=dict(data or {}),
        request_id=context.current_request_id() or "",
    )


@transaction.atomic
def transition(
    run: BotRun,
    to: str,
    *,
    error_code: str | None = None,
    message: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> BotRun:
    """Move `run` to state `to` and record it, or raise IllegalTransition and change nothing.

    Locks the run's row and reads it again, so the move is checked against the committed
    state; sets `started_at` on RUNNING and `ended_at` on a terminal state; announces the
    change on commit. Returns the locked, updated run (not the object passed in).
    """
    run = BotRun.objects.select_for_update().get(pk=run.pk)
    previous = run.state
    if to not in ALLOWED_TRANSITIONS[previous]:
        raise IllegalTransition(detail=f"The run is {previous}; it cannot become {to}.")
    now = timezone.now()
    run.state = to
    run.error_code = error_code or ""
    fields = ["state", "error_code", "updated_at"]
    if to == State.RUNNING and run.started_at is None:
        run.started_at = now
        fields.append("started_at")
    if to in TERMINAL_RUN_STATES:
        run.ended_at = now
        fields.append("ended_at")
    run.save(update_fields=fields)
    event = record_event(
        run,
        kind=Kind.TRANSITION,
        from_state=previous,
        to_state=to,
        error_code=run.error_code,
        message=message or "",
        data=data,
    )
    # Only what was committed is pushed: a rolled-back move is never announced.
    transaction.on_commit(lambda: announce_run_changed(run, event))
    logger.info(
        "run.transition",
        extra={"run_id": str(run.pk), "from": previous, "to": to, "error_code": run.error_code},
    )
    return run


def _transition_from(run: BotRun, expected: str, to: str, **changes: Any) -> BotRun | None:
    """`transition(run, to, …)` only if the run is still `expected`; None (nothing done) if not.

    For the worker's moves, which must give way to whatever happened meanwhile (a stop asked
    while the run was starting must win over a venue failure found afterwards).
    """
    with transaction.atomic():
        current = BotRun.objects.select_for_update().get(pk=run.pk)
        if current.state != expected:
            return None
        return transition(current, to, **changes)


# --------------------------------------------------------------------------- bots


def _mode_errors(mode: str, connection: ExchangeConnection) -> list[dict[str, str]]:
    """What is wrong with trading in `mode` on `connection`; [] when they fit.

    Live mode is not an error of the body but a refusal of its own: LiveModeNotApproved.
    """
    if mode == "live":
        raise LiveModeNotApproved(
            "Bots trade in demo or paper mode; live mode needs the two-person approval of "
            "live trading, which is not available yet."
        )
    is_demo = connection.exchange == DEMO_EXCHANGE
    if mode == Bot.Mode.DEMO and not is_demo:
        return [
            {
                "pointer": "/execution/mode",
                "detail": f"Demo mode trades on a demo connection; {connection.name} is a "
                f"{connection.exchange} connection (use paper mode for its market data).",
            }
        ]
    if mode == Bot.Mode.PAPER and is_demo:
        return [
            {
                "pointer": "/execution/mode",
                "detail": "Paper mode reads an exchange's market data; pick a connection to an "
                "exchange, or demo mode for the demo connection.",
            }
        ]
    if mode == Bot.Mode.PAPER and connection.mode == ExchangeConnection.Mode.LIVE:
        return [
            {
                "pointer": "/exchange_connection",
                "detail": "Live connections stay disabled until live trading is approved; use a "
                "testnet connection of the exchange.",
            }
        ]
    return []


def _check_ownership(
    workspace: Workspace, version: StrategyVersion, connection: ExchangeConnection
) -> None:
    """Answer another workspace's version or connection like the API does: 404 with a pointer."""
    for pointer, owner_id, what in (
        ("/strategy_version", version.strategy.workspace_id, f"strategy version {version.pk}"),
        ("/exchange_connection", connection.workspace_id, f"exchange connection {connection.pk}"),
    ):
        if owner_id != workspace.pk:
            detail = f"This workspace has no {what}."
            raise WorkspaceObjectNotFound(
                detail=detail, errors=[{"pointer": pointer, "detail": detail}]
            )


def _check_symbol_listed(version: StrategyVersion, connection: ExchangeConnection) -> None:
    """Raise a ValidationProblem unless the connection's venue lists the strategy's symbol.

    Reaches the venue (outside any transaction); its problems (unreachable, rate limited …)
    propagate, since the bot cannot be checked without it.
    """
    symbol = version.body["symbol"]
    with gateway_for(connection) as gateway:
        market = gateway.load_markets().get(symbol)
    if market is None or market.get("active") is False:
        raise ValidationProblem.at(
            "/exchange_connection",
            f"{connection.name} ({connection.exchange}) does not list {symbol}, the symbol of "
            f"{version}.",
        )


def _raise_if(errors: list[dict[str, str]]) -> None:
    if errors:
        count = len(errors)
        detail = errors[0]["detail"] if count == 1 else f"The request has {count} errors."
        raise ValidationProblem(errors, detail=detail)


def _name_errors(workspace: Workspace, name: str, *, exclude: Bot | None = None) -> list[dict]:
    taken = Bot.objects.filter(workspace=workspace, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    return [{"pointer": "/name", "detail": NAME_TAKEN}] if taken.exists() else []


def create_bot(
    *,
    workspace: Workspace,
    actor: User | None,
    name: str,
    strategy_version: StrategyVersion,
    exchange_connection: ExchangeConnection,
    risk: Mapping[str, Any],
    execution: Mapping[str, Any],
    close_on_stop: bool = False,
) -> Bot:
    """Create a bot of `strategy_version` on `exchange_connection`.

    `risk` is `{max_position_quote, max_daily_loss_pct, max_orders_per_minute}` and `execution`
    `{order_type, slippage_bps, mode}`, validated by the caller's serializer. Checks the name,
    that the mode fits the connection (live is refused) and that the venue lists the strategy's
    symbol, which asks the venue.
    """
    _check_ownership(workspace, strategy_version, exchange_connection)
    _raise_if(_name_errors(workspace, name) + _mode_errors(execution["mode"], exchange_connection))
    _check_symbol_listed(strategy_version, exchange_connection)
    with transaction.atomic():
        try:
            # A savepoint: a concurrent create of the same name must not break the transaction.
            with transaction.atomic():
                bot = Bot.objects.create(
                    workspace=workspace,
                    name=name,
                    strategy_version=strategy_version,
                    exchange_connection=exchange_connection,
                    max_position_quote=risk["max_position_quote"],
                    max_daily_loss_pct=risk["max_daily_loss_pct"],
                    max_orders_per_minute=risk["max_orders_per_minute"],
                    order_type=execution["order_type"],
                    slippage_bps=execution["slippage_bps"],
                    mode=execution["mode"],
                    close_on_stop=close_on_stop,
                    created_by=actor,
                )
        except IntegrityError:
            if not Bot.objects.filter(workspace=workspace, name=name).exists():
                raise  # another constraint: the caller passed values the API would refuse
            raise ValidationProblem.at("/name", NAME_TAKEN) from None
        record_audit(
            action="bot.create",
            actor=actor,
            workspace=workspace,
            target=bot,
            details={
                "name": name,
                "strategy_version_id": str(strategy_version.pk),
                "exchange_connection_id": str(exchange_connection.pk),
                "risk": bot.risk(),
                "execution": bot.execution(),
                "close_on_stop": close_on_stop,
            },
        )
    return bot


_RISK_FIELDS = ("max_position_quote", "max_daily_loss_pct", "max_orders_per_minute")
_EXECUTION_FIELDS = ("order_type", "slippage_bps", "mode")


def _audit_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if hasattr(value, "pk"):
        return str(value.pk)
    return value


def update_bot(
    *,
    bot: Bot,
    actor: User | None,
    name: str | None = None,
    strategy_version: StrategyVersion | None = None,
    exchange_connection: ExchangeConnection | None = None,
    risk: Mapping[str, Any] | None = None,
    execution: Mapping[str, Any] | None = None,
    close_on_stop: bool | None = None,
) -> Bot:
    """Change what is given (`risk` and `execution` may hold some of their fields only).

    The result is checked as a whole, like a new bot. A run already going keeps the settings
    it started with; the next run uses the new ones.
    """
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if strategy_version is not None:
        changes["strategy_version"] = strategy_version
    if exchange_connection is not None:
        changes["exchange_connection"] = exchange_connection
    for group, names in ((risk, _RISK_FIELDS), (execution, _EXECUTION_FIELDS)):
        for key in names:
            if group and key in group:
                changes[key] = group[key]
    if close_on_stop is not None:
        changes["close_on_stop"] = close_on_stop
    changes = {key: value for key, value in changes.items() if getattr(bot, key) != value}
    if not changes:
        return bot
    version = changes.get("strategy_version", bot.strategy_version)
    connection = changes.get("exchange_connection", bot.exchange_connection)
    _check_ownership(bot.workspace, version, connection)
    _raise_if(
        (_name_errors(bot.workspace, changes["name"], exclude=bot) if "name" in changes else [])
        + _mode_errors(changes.get("mode", bot.mode), connection)
    )
    if "strategy_version" in changes or "exchange_connection" in changes:
        _check_symbol_listed(version, connection)
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        before = {key: _audit_value(getattr(locked, key)) for key in changes}
        for key, value in changes.items():
            setattr(locked, key, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            if "name" not in changes:
                raise  # another constraint: the caller passed values the API would refuse
            raise ValidationProblem.at("/name", NAME_TAKEN) from None
        record_audit(
            action="bot.update",
            actor=actor,
            workspace=locked.workspace,
            target=locked,
            details={
                key: {"from": before[key], "to": _audit_value(value)}
                for key, value in changes.items()
            },
        )
    return locked


@transaction.atomic
def delete_bot(*, bot: Bot, actor: User | None) -> None:
    """Delete a bot and its finished runs; refused (BotHasActiveRun) while a run is active."""
    # Lock the bot: a start that commits between the check and the delete would lose its run.
    bot = Bot.objects.select_for_update().get(pk=bot.pk)
    active = selectors.active_run(bot=bot)
    if active is not None:
        raise BotHasActiveRun(
            detail=f"Run {active.pk} of this bot is {active.state}; stop it before deleting."
        )
    record_audit(
        action="bot.delete",
        actor=actor,
        workspace=bot.workspace,
        target=bot,
        details={"name": bot.name, "runs": bot.runs.count()},
    )
    bot.delete()


# --------------------------------------------------------------------------- starting


@transaction.atomic
def start_run(*, bot: Bot, actor: User | None) -> BotRun:
    """Queue a new run of `bot` with a snapshot of its settings; a worker moves it on.

    RunAlreadyActive while the bot has an unfinished run. The start task is sent on commit.
    """
    from bots import tasks  # tasks import this module

    # Lock the bot so two concurrent starts cannot both see "no active run"; the conditional
    # unique constraint backs this should anything else ever insert runs.
    bot = Bot.objects.select_for_update().get(pk=bot.pk)
    active = selectors.active_run(bot=bot)
    if active is not None:
        raise RunAlreadyActive(detail=f"Bot {bot.pk} already has an unfinished run ({active.pk}).")
    try:
        with transaction.atomic():
            run = BotRun.objects.create(
                workspace_id=bot.workspace_id,
                bot=bot,
                strategy_version_id=bot.strategy_version_id,
                exchange_connection_id=bot.exchange_connection_id,
                risk=bot.risk(),
                execution=bot.execution(),
                close_on_stop=bot.close_on_stop,
                request_id=context.current_request_id() or "",
                created_by=actor,
            )
    except IntegrityError:
        raise RunAlreadyActive(detail=f"Bot {bot.pk} already has an unfinished run.") from None
    event = record_event(run, kind=Kind.TRANSITION, to_state=State.QUEUED, message="Run queued.")
    record_audit(
        action="run.start",
        actor=actor,
        workspace=bot.workspace,
        target=run,
        details={
            "bot_id": str(bot.pk),
            "strategy_version_id": str(bot.strategy_version_id),
            "mode": bot.mode,
        },
    )
    transaction.on_commit(lambda: announce_run_changed(run, event))
    tasks.start_run_task.delay_on_commit(run_id=str(run.pk))
    return run


@dataclass(frozen=True)
class Lookback:
    """What a starting run loaded: `count` closed candles opening from `first_ts` to `last_ts`."""

    wanted: int
    count: int
    first_ts: int | None
    last_ts: int | None


def load_lookback(
    gateway: Gateway, *, symbol: str, timeframe: str, lookback: int, now_ms: int | None = None
) -> Lookback:
    """Read the latest `lookback` closed candles of `symbol` through `gateway`, in pages.

    StartFailure(NOT_ENOUGH_CANDLES) when the venue has fewer; the gateway's problems propagate.
    """
    span = TIMEFRAME_MS[timeframe]
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    forming = now_ms // span * span  # open time of the candle still forming: not closed yet
    cursor = forming - lookback * span
    count, first_ts, last_ts = 0, None, None
    while cursor < forming:
        batch = gateway.fetch_ohlcv(symbol, timeframe, since=cursor, limit=OHLCV_PAGE)
        closed = [int(row[0]) for row in batch or [] if cursor <= int(row[0]) < forming]
        if not closed:
            break  # the venue has no more history in the range
        first_ts = closed[0] if first_ts is None else first_ts
        count += len(closed)
        last_ts = closed[-1]
        cursor = last_ts + span
    if count < lookback:
        raise StartFailure(
            NOT_ENOUGH_CANDLES,
            f"The strategy needs {lookback} closed {timeframe} candles of {symbol}; the venue "
            f"gave {count}.",
        )
    return Lookback(wanted=lookback, count=count, first_ts=first_ts, last_ts=last_ts)


def error_code_of(problem: Problem) -> str:
    """A problem's code as a run error code: exchange-unreachable → EXCHANGE_UNREACHABLE."""
    return problem.code.upper().replace("-", "_")


def launch_run(*, run: BotRun) -> BotRun:
    """Task body: QUEUED → STARTING, load the lookback candles, STARTING → RUNNING.

    A venue that cannot serve the candles ends the run FAILED with the problem's code
    (EXCHANGE_UNREACHABLE …). Safe to repeat: a run found STARTING (a redelivered message)
    loads again; any other state means a stop or another worker got there first.
    """
    if run.state == State.QUEUED:
        moved = _transition_from(
            run, State.QUEUED, State.STARTING, message="Loading the lookback candles."
        )
        if moved is None:
            return BotRun.objects.get(pk=run.pk)
        run = moved
    elif run.state != State.STARTING:
        return run
    try:
        plan = compile_strategy(run.strategy_version.body)
        with gateway_for(run.exchange_connection) as gateway:
            loaded = load_lookback(
                gateway, symbol=plan.symbol, timeframe=plan.timeframe, lookback=plan.lookback
            )
    except Problem as problem:  # the gateway's errors: unreachable, unknown symbol, …
        return _fail_start(run, error_code_of(problem), problem.detail_text)
    except StartFailure as failure:
        return _fail_start(run, failure.code, failure.message)
    except InvalidBody:
        return _fail_start(run, STRATEGY_INVALID, "The strategy version no longer validates.")
    except SoftTimeLimitExceeded:
        return _fail_start(run, START_TIMEOUT, "Loading the lookback candles took too long.")
    except Exception:
        # A bug must not leave the run STARTING forever (it would block the bot's next start).
        logger.exception("run.start_crashed", extra={"run_id": str(run.pk)})
        return _fail_start(run, INTERNAL_ERROR, "The run could not start because of an error.")
    with transaction.atomic():
        started = _transition_from(
            run,
            State.STARTING,
            State.RUNNING,
            message=f"Loaded {loaded.count} {plan.timeframe} candles of {plan.symbol}.",
            data={
                "symbol": plan.symbol,
                "timeframe": plan.timeframe,
                "lookback": loaded.wanted,
                "candles": loaded.count,
                "first_ts": loaded.first_ts,
                "last_ts": loaded.last_ts,
            },
        )
        if started is None:
            logger.info("run.start_overtaken", extra={"run_id": str(run.pk)})
            return BotRun.objects.get(pk=run.pk)  # stopped while loading: the stop ends it
        # The runtime's history starts at the lookback's first candle and grows from there.
        started.symbol, started.timeframe = plan.symbol, plan.timeframe
        started.first_candle_ts, started.last_candle_ts = loaded.first_ts, loaded.last_ts
        started.save(update_fields=["symbol", "timeframe", "first_candle_ts", "last_candle_ts"])
    return started


def _fail_start(run: BotRun, code: str, message: str) -> BotRun:
    logger.warning("run.start_failed", extra={"run_id": str(run.pk), "error_code": code})
    failed = _transition_from(run, State.STARTING, State.FAILED, error_code=code, message=message)
    return failed if failed is not None else BotRun.objects.get(pk=run.pk)


# --------------------------------------------------------------------------- stopping


@transaction.atomic
def stop_run(*, run: BotRun, actor: User | None, via: str = "api") -> BotRun:
    """Ask `run` to stop: → STOPPING now, and a worker moves it on to STOPPED.

    A run already STOPPING is left as it is (its stop task is sent again, so a lost message
    cannot leave it stuck); an ended run raises RunNotActive. `via` is recorded in the audit.
    """
    from bots import tasks  # tasks import this module

    locked = BotRun.objects.select_for_update().get(pk=run.pk)
    if locked.state == State.STOPPING:
        tasks.stop_run_task.delay_on_commit(run_id=str(locked.pk))
        return locked
    if locked.is_terminal:
        raise RunNotActive(detail=f"The run is {locked.state}; there is nothing to stop.")
    previous = locked.state
    stopping = transition(locked, State.STOPPING, message=f"Stop asked ({via}).")
    record_audit(
        action="run.stop",
        actor=actor,
        workspace=stopping.workspace,
        target=stopping,
        details={"bot_id": str(stopping.bot_id), "from": previous, "via": via},
    )
    tasks.stop_run_task.delay_on_commit(run_id=str(stopping.pk))
    return stopping


def finish_stop(*, run: BotRun) -> BotRun:
    """Task body: STOPPING → STOPPED; any other state is left alone (a duplicate message).

    First the runtime winds the run down (bots.runtime.stopping.wind_down): it waits for the
    tick in progress (the run's tick lease), settles the orders the run's ticks journaled, and
    sells the position through the terminal's order path when the run's `close_on_stop` is
    set. A venue that cannot be reached does not keep the run from stopping: what it could not
    settle is left to the reconcile pass.
    """
    from bots.runtime.stopping import wind_down  # the runtime imports this module

    if BotRun.objects.filter(pk=run.pk, state=State.STOPPING).exists():
        wind_down(run)
    stopped = _transition_from(run, State.STOPPING, State.STOPPED, message="Stopped.")
    return stopped if stopped is not None else BotRun.objects.get(pk=run.pk)


@dataclass
class StopAllResult:
    """The outcome of stop-all: ids of runs now stopping, and `{id, error}` of those that failed."""

    stopped: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def stop_all(*, workspace: Workspace, actor: User | None, via: str = "api") -> StopAllResult:
    """Stop every unfinished run of `workspace`, each in its own transaction.

    A run already STOPPING counts as stopped. One run's failure (it ended meanwhile, a lock
    timeout …) is listed in `errors` with its reason and never keeps the others from stopping.
    """
    result = StopAllResult()
    for run in selectors.active_runs(workspace=workspace):
        try:
            stop_run(run=run, actor=actor, via=f"{via}, stop-all")
        except Problem as problem:
            result.errors.append({"id": str(run.pk), "error": problem.detail_text})
        except Exception:
            # Deliberately broad: stop-all is the emergency brake; one run's unexpected error
            # is reported and the loop goes on to stop the rest.
            logger.exception("run.stop_failed", extra={"run_id": str(run.pk)})
            result.errors.append(
                {
                    "id": str(run.pk),
                    "error": "The stop failed because of an error; request id "
                    f"{context.current_request_id() or '-'}.",
                }
            )
        else:
            result.stopped.append(str(run.pk))
    with transaction.atomic():
        record_audit(
            action="run.stop_all",
            actor=actor,
            workspace=workspace,
            details={"stopped": result.stopped, "errors": result.errors, "via": via},
        )
    return result


# --------------------------------------------------------------------------- max duration


def time_out_overdue_runs(*, now: datetime | None = None) -> list[BotRun]:
    """Beat's sweep: RUNNING runs older than MAX_RUN_DURATION_MS → TIMED_OUT.

    Each run moves in its own transaction with `error_code` MAX_DURATION_EXCEEDED and an
    audit row; a run that stopped meanwhile is skipped. Returns the runs timed out.
    """
    now = now or timezone.now()
    limit_ms = settings.MAX_RUN_DURATION_MS
    cutoff = now - timedelta(milliseconds=limit_ms)
    timed_out = []
    for run in selectors.overdue_runs(started_before=cutoff).iterator():
        ran_ms = int((now - run.started_at).total_seconds() * 1000)
        with transaction.atomic():
            moved = _transition_from(
                run,
                State.RUNNING,
                State.TIMED_OUT,
                error_code=MAX_DURATION_EXCEEDED,
                message=f"Ran {ran_ms} ms; the limit is {limit_ms} ms.",
                data={"max_run_duration_ms": limit_ms, "ran_ms": ran_ms},
            )
            if moved is None:
                continue
            record_audit(
                action="run.timed_out",
                workspace=moved.workspace,
                target=moved,
                details={"bot_id": str(moved.bot_id), "max_run_duration_ms": limit_ms},
            )
        timed_out.append(moved)
    return timed_out
