"""Paper mode through the local Binance REST stub with the real ccxt client (SPEC §8, item 8).

A bot on a ccxt connection with `execution.mode: "paper"` reads candles and tickers from the
exchange, and its orders — still journaled by place_order with origin bot — fill by the demo
venue's rules on a paper account kept per run. The stub logs every request: it must see market
data only, never an order, never the account, never a signed request.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings

from bots import services
from bots.models import BotRun, OrderIntent, PaperBalance, PaperOrder, RunEvent
from bots.runtime import ManualClock, Runtime, latest_closed_ts, runtime_for, tick_run
from bots.runtime.candles import GatewayCandles, clear_memo
from bots.runtime.paper import PaperGateway
from bots.runtime.venue import GatewayVenue
from exchanges import services as exchange_services
from exchanges.demo import feed
from exchanges.exceptions import InsufficientFunds, OrderNotOpen
from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from terminal.models import Order
from tests.bots.conftest import BOTS
from tests.bots.ticking import MINUTE, buy_then_sell_body, first_candle_buy_body, make_bot
from tests.conftest import _member
from tests.exchanges.ccxt_helpers import route_ccxt_to
from tests.exchanges.stub_exchange import STUB_API_KEY, STUB_SECRET, running_stub
from workspaces.models import Role

pytestmark = pytest.mark.django_db

FEE_RATE = Decimal("0.001")  # the stub's (Binance's) taker fee
# 2026-01-05 12:00:30 UTC, half a minute into a long-closed candle (the feed is deterministic).
T0 = 1_767_614_430_000


@pytest.fixture
def stub(monkeypatch):
    """The Binance stub on the real clock, every ccxt client the gateway makes pointed at it."""
    clear_memo()  # candles of another test's stub must not be served from the process memo
    with running_stub() as running:
        route_ccxt_to(monkeypatch, running.base_url)
        yield running


@pytest.fixture
def binance(workspace) -> ExchangeConnection:
    """A Binance testnet connection with API keys: paper mode must not use them."""
    return exchange_services.create_connection(
        workspace=workspace,
        actor=_member(workspace, Role.OWNER),
        name="Binance testnet",
        exchange="binance",
        mode="testnet",
        api_key=STUB_API_KEY,
        api_secret=STUB_SECRET,
    )


def _fee(cost: Decimal) -> Decimal:
    return (cost * FEE_RATE).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)


def _exchange_saw_no_order_and_no_account(stub) -> None:
    paths = stub.paths()
    assert "/api/v3/klines" in paths  # its market data
    assert "/api/v3/ticker/24hr" in paths
    assert not [p for p in paths if "order" in p.lower() or "account" in p or "myTrades" in p]
    assert not [request for request in stub.requests if request.signed]


def test_a_paper_run_starts_ticks_and_buys_on_paper_while_the_exchange_sees_no_order(
    trader_api, workspace, binance, stub
):
    """The whole way: create over the API, start, load the lookback, tick on the wall clock."""
    from tests.bots.conftest import make_version

    version = make_version(workspace, first_candle_buy_body(), name="First buy")
    created = trader_api.post(
        BOTS,
        {
            "name": "Paper BTC",
            "strategy_version": str(version.pk),
            "exchange_connection": str(binance.pk),
            "risk": {
                "max_position_quote": "20000",
                "max_daily_loss_pct": "50",
                "max_orders_per_minute": 10,
            },
            "execution": {"order_type": "market", "slippage_bps": 10, "mode": "paper"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    started = trader_api.post(f"{BOTS}/{created.json()['id']}/runs")
    assert started.status_code == 201
    run = services.launch_run(run=BotRun.objects.get(pk=started.json()["id"]))
    assert run.state == BotRun.State.RUNNING, run.error_code
    # The next candle has closed: the run is due (as when the dispatcher sends it).
    BotRun.objects.filter(pk=run.pk).update(last_candle_ts=run.last_candle_ts - MINUTE)

    result = tick_run(run.pk)

    assert result.outcome == "acted", result
    run.refresh_from_db()
    [paper] = PaperOrder.objects.filter(run=run)
    assert (paper.side, paper.type, paper.status) == ("buy", "market", "closed")
    cost = paper.amount * paper.average
    assert (paper.fee, paper.fee_currency) == (_fee(cost), "USDT")
    # The journal has it, as every bot order: origin bot, this run, the paper venue's answer.
    [order] = Order.objects.filter(bot_run=run)
    assert (order.origin, order.status) == (Order.Origin.BOT, Order.Status.CLOSED)
    assert order.exchange_order_id == str(paper.pk)
    assert (order.filled, order.average, order.fee) == (paper.amount, paper.average, paper.fee)
    assert OrderIntent.objects.get(run=run).status == OrderIntent.Status.FILLED
    # The paper account: the starting balance less the buy; the base bought.
    balances = {b.asset: b for b in PaperBalance.objects.filter(run=run)}
    assert balances["USDT"].free == settings.PAPER_STARTING_BALANCE - cost - paper.fee
    assert balances["BTC"].free == paper.amount
    assert run.position == paper.amount
    assert run.book["cash"] == pytest.approx(float(balances["USDT"].free), abs=1e-6)
    assert RunEvent.objects.filter(run=run, kind=RunEvent.Kind.FILL).count() == 1
    # Neither the exchange nor the terminal's views ever saw an order.
    _exchange_saw_no_order_and_no_account(stub)
    assert trader_api.get("/api/v1/terminal/orders").json()["results"] == []


def test_the_paper_runtime_is_registered_for_paper_runs(workspace, binance, stub):
    bot = make_bot(workspace, binance, mode="paper")
    run = BotRun.objects.create(
        workspace=workspace,
        bot=bot,
        strategy_version=bot.strategy_version,
        exchange_connection=binance,
        risk=bot.risk(),
        execution=bot.execution(),
        symbol="BTC/USDT",
        timeframe="1m",
    )
    with runtime_for(run) as runtime:
        assert isinstance(runtime.venue.gateway.inner, PaperGateway)
        assert runtime.venue.starting_cash("USDT") == float(settings.PAPER_STARTING_BALANCE)


def _paper_runtime(run: BotRun, clock: ManualClock) -> Runtime:
    """The paper runtime on a clock the test moves (and the stub's clock moves with it)."""
    gateway = gateway_for(run.exchange_connection)
    return Runtime(
        clock=clock,
        candles=GatewayCandles(gateway, venue_key="binance:testnet"),
        venue=GatewayVenue(PaperGateway(gateway, run=run, clock=clock)),
    )


def _running(bot, now_ms: int) -> BotRun:
    last = latest_closed_ts(now_ms, "1m") - MINUTE
    return BotRun.objects.create(
        workspace=bot.workspace,
        bot=bot,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
        risk=bot.risk(),
        execution=bot.execution(),
        state=BotRun.State.RUNNING,
        symbol="BTC/USDT",
        timeframe="1m",
        first_candle_ts=last - 30 * MINUTE,
        last_candle_ts=last,
    )


def test_a_paper_round_trip_books_the_trade_on_the_paper_account(workspace, binance, stub):
    stub.now_ms = T0
    bot = make_bot(
        workspace, binance, buy_then_sell_body(), mode="paper", max_position_quote=Decimal(20_000)
    )
    run = _running(bot, T0)
    clock = ManualClock(T0)
    with _paper_runtime(run, clock) as runtime:
        assert tick_run(run.pk, runtime=runtime).outcome == "acted"  # buys
        clock.advance(MINUTE)
        stub.now_ms += MINUTE
        assert tick_run(run.pk, runtime=runtime).outcome == "acted"  # sells

    buy, sale = PaperOrder.objects.filter(run=run).order_by("created_ms")
    assert (buy.side, sale.side, buy.status, sale.status) == ("buy", "sell", "closed", "closed")
    # Market orders at the ticker ± the bot's 10 bps (on the 0.01 tick, against the trader).
    for order, at in ((buy, T0), (sale, T0 + MINUTE)):
        last = feed.price_to_decimal("BTC/USDT", feed.price_at("BTC/USDT", at))
        slip = last * Decimal(bot.slippage_bps) / Decimal(10_000)
        expected = last + slip if order.side == "buy" else last - slip
        assert abs(order.average - expected) < Decimal("0.01")
        assert order.average >= expected if order.side == "buy" else order.average <= expected
    usdt = PaperBalance.objects.get(run=run, asset="USDT")
    expected_cash = (
        settings.PAPER_STARTING_BALANCE
        - (buy.amount * buy.average + buy.fee)
        + (sale.amount * sale.average - sale.fee)
    )
    assert usdt.free == expected_cash
    assert PaperBalance.objects.get(run=run, asset="BTC").free == 0
    run.refresh_from_db()
    assert run.position == 0
    [fill] = RunEvent.objects.filter(run=run, kind=RunEvent.Kind.FILL, data__side="sell")
    pnl = float(expected_cash - settings.PAPER_STARTING_BALANCE)
    assert float(fill.data["trade"]["pnl"]) == pytest.approx(pnl, abs=1e-6)
    _exchange_saw_no_order_and_no_account(stub)

    # Deleting the bot takes the paper account and the journal's copies of its paper orders.
    BotRun.objects.filter(pk=run.pk).update(state=BotRun.State.STOPPED)
    services.delete_bot(bot=bot, actor=None)
    assert not Order.objects.exists()
    assert not PaperOrder.objects.exists()
    assert not PaperBalance.objects.exists()


def _rising_minute() -> int:
    """A time (half a minute into a candle) whose price is above the previous candle's close,
    so a buy limit at that close does not cross when placed."""
    for minute in range(T0 // MINUTE, T0 // MINUTE + 600):
        now = minute * MINUTE + 30_000
        previous = feed.candle_at("BTC/USDT", "1m", now - MINUTE)
        if feed.price_at("BTC/USDT", now) > previous.close * 1.0005:
            return now
    raise AssertionError("no rising minute found")


def test_a_resting_paper_limit_is_settled_by_the_next_tick_at_the_paper_venue(
    workspace, binance, stub
):
    now = _rising_minute()
    stub.now_ms = now
    bot = make_bot(
        workspace,
        binance,
        mode="paper",
        order_type="limit",
        slippage_bps=0,
        max_position_quote=Decimal(20_000),
    )
    run = _running(bot, now)
    clock = ManualClock(now)
    with _paper_runtime(run, clock) as runtime:
        assert tick_run(run.pk, runtime=runtime).outcome == "acted"
        [paper] = PaperOrder.objects.filter(run=run)
        assert (paper.type, paper.status) == ("limit", "open")  # below the price: it rests
        usdt = PaperBalance.objects.get(run=run, asset="USDT")
        assert (
            usdt.used
            == paper.reserved
            == paper.amount * paper.price + _fee(paper.amount * paper.price)
        )
        clock.advance(MINUTE)
        stub.now_ms += MINUTE
        tick_run(run.pk, runtime=runtime)

    paper.refresh_from_db()
    # The first candle's order, settled by the second tick before it decided anew: the price
    # did not come down to it in that minute (the feed is fixed), so it was canceled — on
    # paper, its funds released, the journal and the intent saying so.
    intent = OrderIntent.objects.filter(run=run).order_by("candle_ts").first()
    assert intent.order.exchange_order_id == str(paper.pk)
    assert (paper.status, paper.reserved) == ("canceled", 0)
    assert (intent.status, intent.order.status) == ("canceled", "canceled")
    assert intent.canceled_at_ms == now + MINUTE
    _exchange_saw_no_order_and_no_account(stub)


def test_the_paper_venue_rests_matches_cancels_and_refuses_like_the_demo(workspace, binance, stub):
    stub.now_ms = T0
    bot = make_bot(workspace, binance, mode="paper", slippage_bps=0)
    run = _running(bot, T0)
    clock = ManualClock(T0)
    gateway = PaperGateway(gateway_for(binance), run=run, clock=clock)
    last = feed.price_to_decimal("BTC/USDT", feed.price_at("BTC/USDT", T0))

    # A sell needs base the account does not have; a buy beyond the balance is refused too.
    with pytest.raises(InsufficientFunds):
        gateway.create_order("BTC/USDT", "market", "sell", Decimal("0.01"))
    with pytest.raises(InsufficientFunds):
        gateway.create_order("BTC/USDT", "market", "buy", Decimal("1"))

    # A buy limit below the price rests, holding cost + fee; asked again it is the same order.
    price = (last * Decimal("0.999")).quantize(Decimal("0.01"))
    resting = gateway.create_order(
        "BTC/USDT", "limit", "buy", Decimal("0.01"), price, params={"clientOrderId": "r1"}
    )
    assert resting["status"] == "open"
    again = gateway.create_order(
        "BTC/USDT", "limit", "buy", Decimal("0.01"), price, params={"clientOrderId": "r1"}
    )
    assert again["id"] == resting["id"]
    assert gateway.fetch_balance()["used"]["USDT"] == Decimal("0.01") * price + _fee(
        Decimal("0.01") * price
    )

    # Later the exchange's 1m candles are read: once one went down to the limit, it fills there.
    crossing = next(
        minute * MINUTE
        for minute in range(T0 // MINUTE + 1, T0 // MINUTE + 2000)
        if Decimal(repr(feed.candle_at("BTC/USDT", "1m", minute * MINUTE).low)) <= price
    )
    clock.set(crossing + MINUTE + 1)
    stub.now_ms = crossing + MINUTE + 1
    filled = gateway.fetch_order("", params={"clientOrderId": "r1"})
    assert (filled["status"], filled["average"]) == ("closed", price)
    assert filled["lastTradeTimestamp"] == crossing + MINUTE
    with pytest.raises(OrderNotOpen):
        gateway.cancel_order(filled["id"])

    # A sell limit far above the price rests and is canceled, the base held coming back.
    high = gateway.create_order("BTC/USDT", "limit", "sell", Decimal("0.01"), last * 2)
    assert gateway.fetch_balance()["used"]["BTC"] == Decimal("0.01")
    canceled = gateway.cancel_order(high["id"])
    assert canceled["status"] == "canceled"
    assert gateway.cancel_order(high["id"])["status"] == "canceled"  # twice changes nothing
    assert gateway.fetch_balance()["free"]["BTC"] == Decimal("0.01")
    assert gateway.fetch_open_orders("BTC/USDT") == []
    _exchange_saw_no_order_and_no_account(stub)
