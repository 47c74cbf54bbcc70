"""The lab API: datasets and backtests, scoping and roles, validation, rate limit, results."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from lab import services
from lab.models import Backtest, BacktestTrade, Dataset
from tests.conftest import assert_problem
from tests.lab.conftest import make_version, sma_body
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/lab/datasets"
BACKTESTS = "/api/v1/lab/backtests"


def demo_payload(**changes) -> dict:
    return {
        "source": "demo",
        "name": "BTC six hours",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-01T06:00:00Z",
        **changes,
    }


def backtest_payload(version, dataset, /, **changes) -> dict:
    return {
        "strategy_version": str(version.pk),
        "dataset": str(dataset.pk),
        "initial_cash": "10000",
        "fee_bps": "10",
        "slippage_bps": "2",
        **changes,
    }


def run_backtest(api, version, dataset, **changes) -> dict:
    created = api.post(BACKTESTS, backtest_payload(version, dataset, **changes), format="json")
    assert created.status_code == 202, created.content
    services.run_backtest(backtest_id=created.json()["id"])
    return api.get(f"{BACKTESTS}/{created.json()['id']}").json()


# --------------------------------------------------------------------------- datasets


def test_create_demo_dataset_then_list_and_get(trader_api, workspace):
    created = trader_api.post(DATASETS, demo_payload(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "ready"
    assert body["rows"] == 360
    assert body["source"] == "demo"
    assert body["start_ts"] == "2026-11-01T00:00:00Z"
    assert body["end_ts"] == "2026-11-01T06:00:00Z"
    assert body["amount_step"] == "0.00001"
    assert len(body["sha256"]) == 64
    assert body["backtests_count"] == 0
    assert Dataset.objects.get(pk=body["id"]).workspace == workspace

    listed = trader_api.get(DATASETS).json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]
    assert trader_api.get(f"{DATASETS}/{body['id']}").json()["sha256"] == body["sha256"]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"source": "demo", "start": None}, "/start"),
        ({"symbol": "DOGE/USDT"}, "/symbol"),
        ({"timeframe": "2m"}, "/timeframe"),
        ({"end": "2026-10-31T00:00:00Z"}, "/end"),
        ({"name": ""}, "/name"),
        ({"source": "exchange"}, "/connection"),
        ({"source": "csv"}, "/file"),
        ({"source": "nope"}, "/source"),
    ],
)
def test_create_dataset_bad_input_points_at_the_field(trader_api, changes, pointer):
    payload = {k: v for k, v in demo_payload(**changes).items() if v is not None}
    body = assert_problem(trader_api.post(DATASETS, payload, format="json"), 400)
    assert pointer in [e["pointer"] for e in body["errors"]]
    assert not Dataset.objects.exists()


def test_dataset_range_may_not_reach_into_the_future(trader_api):
    end = (timezone.now() + timedelta(hours=2)).isoformat()
    payload = demo_payload(start=(timezone.now() - timedelta(hours=1)).isoformat(), end=end)
    body = assert_problem(trader_api.post(DATASETS, payload, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/end"


def test_dataset_over_the_row_limit_is_refused(trader_api, settings):
    settings.LAB_MAX_DATASET_ROWS = 100
    body = assert_problem(trader_api.post(DATASETS, demo_payload(), format="json"), 400)
    assert body["errors"][0]["pointer"] == "/end"
    assert "at most 100" in body["errors"][0]["detail"]


def test_duplicate_dataset_name_is_400(trader_api, dataset):
    payload = demo_payload(name=dataset.name)
    body = assert_problem(trader_api.post(DATASETS, payload, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/name"


def test_foreign_connection_is_an_unknown_connection(trader_api, other_workspace):
    from exchanges.models import ExchangeConnection

    theirs = ExchangeConnection.objects.create(
        workspace=other_workspace, name="Theirs", exchange="demo"
    )
    payload = demo_payload(source="exchange", connection=str(theirs.pk))
    body = assert_problem(trader_api.post(DATASETS, payload, format="json"), 404, "not-found")
    assert body["errors"][0]["pointer"] == "/connection"
    nobody = "0b6f0c3e-8a36-4a4c-9d8e-5f5e2f3a0001"
    payload = demo_payload(source="exchange", connection=nobody)
    unknown = assert_problem(trader_api.post(DATASETS, payload, format="json"), 404, "not-found")
    assert body["errors"][0]["detail"].replace(str(theirs.pk), "X") == unknown["errors"][0][
        "detail"
    ].replace(nobody, "X")
    assert not Dataset.objects.exists()


def test_viewer_reads_datasets_but_cannot_write(viewer_api, dataset):
    assert viewer_api.get(DATASETS).status_code == 200
    assert viewer_api.get(f"{DATASETS}/{dataset.pk}/candles").status_code == 200
    assert_problem(viewer_api.post(DATASETS, demo_payload(), format="json"), 403, "role-required")
    assert_problem(viewer_api.delete(f"{DATASETS}/{dataset.pk}"), 403, "role-required")
    assert Dataset.objects.count() == 1


def test_non_member_gets_403(outsider_api, dataset):
    assert_problem(outsider_api.get(DATASETS), 403, "not-a-workspace-member")
    assert_problem(outsider_api.get(BACKTESTS), 403, "not-a-workspace-member")
    assert_problem(outsider_api.post(DATASETS, demo_payload(), format="json"), 403)
    assert_problem(outsider_api.delete(f"{DATASETS}/{dataset.pk}"), 403)


def test_other_workspaces_dataset_is_404(trader_api, other_dataset):
    for url in (f"{DATASETS}/{other_dataset.pk}", f"{DATASETS}/{other_dataset.pk}/candles"):
        assert_problem(trader_api.get(url), 404)
    assert_problem(trader_api.delete(f"{DATASETS}/{other_dataset.pk}"), 404)
    assert Dataset.objects.filter(pk=other_dataset.pk).exists()
    assert trader_api.get(DATASETS).json()["count"] == 0


def test_delete_dataset_refused_while_used_then_allowed(trader_api, version, dataset, lab_media):
    backtest = run_backtest(trader_api, version, dataset)
    body = assert_problem(trader_api.delete(f"{DATASETS}/{dataset.pk}"), 409, "dataset-in-use")
    assert "1 backtest" in body["detail"]
    assert trader_api.get(f"{DATASETS}/{dataset.pk}").json()["backtests_count"] == 1

    assert trader_api.delete(f"{BACKTESTS}/{backtest['id']}").status_code == 204
    assert trader_api.delete(f"{DATASETS}/{dataset.pk}").status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"backtest.delete", "dataset.delete"} <= actions


def test_candles_preview_merges_into_at_most_points(trader_api, dataset):
    body = trader_api.get(f"{DATASETS}/{dataset.pk}/candles?points=100").json()
    assert body["total_rows"] == 1440
    assert body["group"] == 15
    assert len(body["candles"]) == 96
    first = body["candles"][0]
    assert first["time"] == "2026-11-01T00:00:00Z"
    candles = services.load_candles(dataset)
    assert Decimal(first["open"]) == Decimal(repr(float(candles.open[0])))
    assert Decimal(first["high"]) == Decimal(repr(float(candles.high[:15].max())))
    assert Decimal(first["low"]) == Decimal(repr(float(candles.low[:15].min())))
    assert Decimal(first["close"]) == Decimal(repr(float(candles.close[14])))
    assert_problem(trader_api.get(f"{DATASETS}/{dataset.pk}/candles?points=3"), 400)


# --------------------------------------------------------------------------- backtests


def test_post_backtest_is_202_queued(
    trader_api, version, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = trader_api.post(BACKTESTS, backtest_payload(version, dataset), format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["metrics"] is None
    assert len(body["inputs_sha256"]) == 64
    backtest = Backtest.objects.get(pk=body["id"])
    assert (backtest.initial_cash, backtest.fee_bps, backtest.slippage_bps) == (
        Decimal("10000"),
        Decimal("10"),
        Decimal("2"),
    )
    assert len(callbacks) == 1  # the task is sent only once the row is committed


def test_backtest_defaults_cash_fee_and_slippage(trader_api, version, dataset):
    payload = {"strategy_version": str(version.pk), "dataset": str(dataset.pk)}
    body = trader_api.post(BACKTESTS, payload, format="json").json()
    assert (body["initial_cash"], body["fee_bps"], body["slippage_bps"]) == ("10000", "10", "0")


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"initial_cash": "0"}, "/initial_cash"),
        ({"initial_cash": "abc"}, "/initial_cash"),
        ({"initial_cash": "1.123456789"}, "/initial_cash"),
        ({"fee_bps": "-1"}, "/fee_bps"),
        # Plain ASCII decimal notation only: Python's Decimal would take each of these.
        ({"initial_cash": "1_000"}, "/initial_cash"),
        ({"initial_cash": " 1000 "}, "/initial_cash"),
        ({"initial_cash": "\u0661\u0660\u0660"}, "/initial_cash"),
        ({"fee_bps": "1e1"}, "/fee_bps"),
        ({"slippage_bps": 0.5}, "/slippage_bps"),
        ({"slippage_bps": "1000.5"}, "/slippage_bps"),
        ({"dataset": "not-a-uuid"}, "/dataset"),
    ],
)
def test_backtest_bad_input_points_at_the_field(trader_api, version, dataset, changes, pointer):
    payload = backtest_payload(version, dataset, **changes)
    body = assert_problem(trader_api.post(BACKTESTS, payload, format="json"), 400)
    assert [e["pointer"] for e in body["errors"]] == [pointer]
    assert not Backtest.objects.exists()


def test_foreign_version_or_dataset_is_answered_like_an_unknown_one(
    trader_api, version, dataset, other_workspace, other_dataset
):
    their_version = make_version(other_workspace, sma_body())
    body = assert_problem(
        trader_api.post(BACKTESTS, backtest_payload(their_version, dataset), format="json"),
        404,
        "not-found",
    )
    assert body["errors"][0]["pointer"] == "/strategy_version"
    unknown = assert_problem(
        trader_api.post(
            BACKTESTS,
            backtest_payload(version, dataset, strategy_version=str(other_dataset.pk)),
            format="json",
        ),
        404,
        "not-found",
    )
    # The same words whether the id is someone else's or nobody's; only the id differs.
    assert body["errors"][0]["detail"].replace(str(their_version.pk), "X") == unknown["errors"][0][
        "detail"
    ].replace(str(other_dataset.pk), "X")
    body = assert_problem(
        trader_api.post(BACKTESTS, backtest_payload(version, other_dataset), format="json"),
        404,
        "not-found",
    )
    assert body["errors"][0]["pointer"] == "/dataset"
    assert not Backtest.objects.exists()


def test_mismatched_symbol_is_400_at_dataset(trader_api, workspace, dataset):
    eth = make_version(workspace, sma_body(symbol="ETH/USDT"), name="ETH")
    body = assert_problem(
        trader_api.post(BACKTESTS, backtest_payload(eth, dataset), format="json"), 400
    )
    assert body["errors"][0]["pointer"] == "/dataset"


def test_viewer_cannot_run_rerun_or_delete_backtests(viewer_api, trader_api, version, dataset):
    assert_problem(
        viewer_api.post(BACKTESTS, backtest_payload(version, dataset), format="json"), 403
    )
    done = run_backtest(trader_api, version, dataset)
    assert viewer_api.get(f"{BACKTESTS}/{done['id']}").status_code == 200
    assert viewer_api.get(f"{BACKTESTS}/{done['id']}/trades").status_code == 200
    assert viewer_api.get(f"{BACKTESTS}/{done['id']}/equity").status_code == 200
    assert_problem(viewer_api.post(f"{BACKTESTS}/{done['id']}/rerun"), 403, "role-required")
    assert_problem(viewer_api.delete(f"{BACKTESTS}/{done['id']}"), 403, "role-required")
    assert Backtest.objects.count() == 1


def test_other_workspaces_backtest_is_404(trader_api, other_api, other_workspace, other_dataset):
    theirs = run_backtest(other_api, make_version(other_workspace, sma_body()), other_dataset)
    base = f"{BACKTESTS}/{theirs['id']}"
    for url in (base, f"{base}/trades", f"{base}/equity"):
        assert_problem(trader_api.get(url), 404)
    assert_problem(trader_api.post(f"{base}/rerun"), 404)
    assert_problem(trader_api.delete(base), 404)
    assert trader_api.get(BACKTESTS).json()["count"] == 0
    assert Backtest.objects.count() == 1


def test_sixth_backtest_in_a_minute_is_429(trader_api, version, dataset):
    for _ in range(5):
        response = trader_api.post(BACKTESTS, backtest_payload(version, dataset), format="json")
        assert response.status_code == 202
    sixth = trader_api.post(BACKTESTS, backtest_payload(version, dataset), format="json")
    assert_problem(sixth, 429, "rate-limited")
    assert int(sixth["Retry-After"]) >= 1
    assert Backtest.objects.count() == 5


def test_rerun_counts_against_the_same_limit(trader_api, version, dataset):
    first = trader_api.post(BACKTESTS, backtest_payload(version, dataset), format="json").json()
    for _ in range(4):
        assert trader_api.post(f"{BACKTESTS}/{first['id']}/rerun").status_code == 202
    assert_problem(trader_api.post(f"{BACKTESTS}/{first['id']}/rerun"), 429)


def test_backtest_detail_has_status_metrics_and_inputs_hash(trader_api, version, dataset):
    body = run_backtest(trader_api, version, dataset)
    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["strategy_name"] == "SMA cross"
    assert body["strategy_version_number"] == 1
    assert body["dataset_name"] == dataset.name
    assert set(body["metrics"]) == {
        "net_pnl",
        "net_pnl_pct",
        "win_rate",
        "max_drawdown_pct",
        "trades",
        "profit_factor",
        "sharpe",
        "exposure_pct",
    }
    assert isinstance(body["metrics"]["net_pnl"], str)
    assert Decimal(body["final_equity"]) - Decimal("10000") == Decimal(body["metrics"]["net_pnl"])
    assert body["inputs_sha256"] == Backtest.objects.get(pk=body["id"]).inputs_sha256
    assert set(body["timings_ms"]) == {"load", "engine", "save"}


def test_list_is_newest_first_and_filters(trader_api, workspace, version, dataset):
    other_version = make_version(workspace, sma_body(5, 20), name="SMA 5/20")
    old = run_backtest(trader_api, version, dataset)
    new = trader_api.post(BACKTESTS, backtest_payload(other_version, dataset), format="json").json()
    listed = trader_api.get(BACKTESTS).json()["results"]
    assert [b["id"] for b in listed] == [new["id"], old["id"]]
    assert [b["id"] for b in trader_api.get(f"{BACKTESTS}?status=queued").json()["results"]] == [
        new["id"]
    ]
    by_version = trader_api.get(f"{BACKTESTS}?strategy_version={version.pk}").json()["results"]
    assert [b["id"] for b in by_version] == [old["id"]]
    by_strategy = trader_api.get(f"{BACKTESTS}?strategy={other_version.strategy_id}").json()
    assert [b["id"] for b in by_strategy["results"]] == [new["id"]]
    assert trader_api.get(f"{BACKTESTS}?dataset={dataset.pk}").json()["count"] == 2
    body = assert_problem(trader_api.get(f"{BACKTESTS}?status=bogus"), 400)
    assert body["errors"][0]["pointer"] == "/status"


def test_trades_are_paginated_in_time_order(trader_api, version, dataset):
    body = run_backtest(trader_api, version, dataset)
    total = body["metrics"]["trades"]
    assert total > 10
    first = trader_api.get(f"{BACKTESTS}/{body['id']}/trades?page_size=10").json()
    assert first["count"] == total
    assert [t["seq"] for t in first["results"]] == list(range(1, 11))
    second = trader_api.get(f"{BACKTESTS}/{body['id']}/trades?page_size=10&page=2").json()
    assert second["results"][0]["seq"] == 11
    trade = first["results"][0]
    stored = BacktestTrade.objects.get(backtest_id=body["id"], seq=1)
    assert trade["entry_price"] == f"{stored.entry_price:.8f}"
    assert Decimal(trade["amount"]) == stored.amount
    assert trade["exit_reason"] == "signal"


def test_equity_is_downsampled_by_default_and_full_on_request(trader_api, version, dataset):
    body = run_backtest(trader_api, version, dataset)
    url = f"{BACKTESTS}/{body['id']}/equity"
    full = trader_api.get(f"{url}?full=true").json()
    assert full["total_points"] == full["points"] == 1440
    assert full["downsampled"] is False
    assert full["time"][0] == "2026-11-01T00:00:00Z"
    assert full["equity"][-1] == body["final_equity"]
    assert max(full["drawdown_pct"]) == pytest.approx(body["metrics"]["max_drawdown_pct"])

    small = trader_api.get(f"{url}?points=50").json()
    assert small["downsampled"] is True
    assert small["points"] == len(small["time"]) == len(small["equity"]) <= 50
    assert small["time"] == sorted(small["time"])
    # The extremes survive downsampling: first, last, highest, lowest and the deepest drawdown.
    equity = [Decimal(v) for v in full["equity"]]
    kept = {t: Decimal(v) for t, v in zip(small["time"], small["equity"], strict=True)}
    assert kept[full["time"][0]] == equity[0]
    assert kept[full["time"][-1]] == equity[-1]
    assert max(kept.values()) == max(equity)
    assert min(kept.values()) == min(equity)
    assert max(small["drawdown_pct"]) == max(full["drawdown_pct"])

    default = trader_api.get(url).json()  # at most 1000 points unless asked otherwise
    assert default["downsampled"] is True
    assert default["points"] <= 1000
    assert_problem(trader_api.get(f"{url}?points=5"), 400)


def test_equity_of_an_unfinished_backtest_is_409(trader_api, version, dataset):
    created = trader_api.post(BACKTESTS, backtest_payload(version, dataset), format="json").json()
    assert_problem(
        trader_api.get(f"{BACKTESTS}/{created['id']}/equity"), 409, "backtest-not-succeeded"
    )
    assert trader_api.get(f"{BACKTESTS}/{created['id']}/trades").json()["count"] == 0
    assert_problem(trader_api.delete(f"{BACKTESTS}/{created['id']}"), 409, "backtest-active")


def test_rerun_is_202_with_the_same_inputs(trader_api, version, dataset):
    first = run_backtest(trader_api, version, dataset)
    rerun = trader_api.post(f"{BACKTESTS}/{first['id']}/rerun")
    assert rerun.status_code == 202
    body = rerun.json()
    assert body["id"] != first["id"]
    assert body["status"] == "queued"
    assert body["rerun_of"] == first["id"]
    assert body["inputs_sha256"] == first["inputs_sha256"]
    services.run_backtest(backtest_id=body["id"])
    again = trader_api.get(f"{BACKTESTS}/{body['id']}").json()
    assert again["metrics"] == first["metrics"]
    assert again["final_equity"] == first["final_equity"]
    full = "equity?full=true"
    assert (
        trader_api.get(f"{BACKTESTS}/{body['id']}/{full}").json()
        == trader_api.get(f"{BACKTESTS}/{first['id']}/{full}").json()
    )


# --------------------------------------------------------------------------- worked by hand

HAND_CSV = (
    "ts,open,high,low,close,volume\n"
    "1767225600000,98,99,97,98,10\n"
    "2026-01-01T01:00:00Z,98,101,97,99,10\n"
    "1767232800000,99,102,98,101,10\n"
    "2026-01-01T03:00:00+00:00,102,106,101,105,10\n"
    "1767240000000,105,105,95,96,10\n"
    "1767243600000,97,98,96,97,10\n"
)


def test_a_tiny_csv_backtest_matches_the_hand_computed_trade(trader_api, workspace):
    """Close crosses 100 upward at candle 2 and downward at candle 4; fills at the next opens.

    Buy at 102 * 1.005 = 102.51; units = floor(1000 / (0.001 * 102.51 * 1.001)) = 9745, so the
    amount is 9.745 and the notional 998.95995 (+ fee 0.99895995). Sell at 97 * 0.995 = 96.515:
    940.538675 (- fee 0.940538675). PnL = 939.598136325 - 999.95890995 = -60.360773625.
    """
    upload = SimpleUploadedFile("tiny.csv", HAND_CSV.encode(), content_type="text/csv")
    created = trader_api.post(
        DATASETS,
        {
            "source": "csv",
            "name": "Tiny",
            "symbol": "TEST/USD",
            "timeframe": "1h",
            "amount_step": "0.001",
            "file": upload,
        },
        format="multipart",
    )
    assert created.status_code == 201, created.content
    dataset = Dataset.objects.get(pk=created.json()["id"])
    assert dataset.rows == 6
    assert dataset.amount_step == Decimal("0.001")
    body = {
        "dsl_version": 1,
        "symbol": "TEST/USD",
        "timeframe": "1h",
        "side": "long",
        "indicators": [],
        "entry": {"crosses_above": [{"price": "close"}, 100]},
        "exit": {"signal": {"crosses_below": [{"price": "close"}, 100]}},
        "sizing": {"type": "fixed_quote", "value": 1000},
    }
    version = make_version(workspace, body, name="Cross 100")
    result = run_backtest(
        trader_api, version, dataset, initial_cash="10000", fee_bps="10", slippage_bps="50"
    )
    assert result["status"] == "succeeded", result["error"]
    trades = trader_api.get(f"{BACKTESTS}/{result['id']}/trades").json()["results"]
    assert len(trades) == 1
    trade = trades[0]
    assert trade["entry_time"] == "2026-01-01T03:00:00Z"
    assert trade["exit_time"] == "2026-01-01T05:00:00Z"
    assert trade["entry_price"] == "102.51000000"
    assert trade["exit_price"] == "96.51500000"
    assert trade["amount"] == "9.745"
    assert Decimal(trade["fees"]).quantize(Decimal("0.01")) == Decimal("1.94")
    assert Decimal(trade["pnl"]).quantize(Decimal("0.01")) == Decimal("-60.36")
    assert abs(Decimal(trade["pnl"]) - Decimal("-60.360773625")) < Decimal("0.00000001")

    metrics = result["metrics"]
    assert metrics["trades"] == 1
    assert metrics["win_rate"] == 0
    assert Decimal(metrics["net_pnl"]).quantize(Decimal("0.01")) == Decimal("-60.36")
    assert metrics["exposure_pct"] == pytest.approx(100 * 2 / 6)
    assert result["open_position"] is None

    equity = trader_api.get(f"{BACKTESTS}/{result['id']}/equity?full=true").json()
    expected = ["10000", "10000", "10000", "10023.26609005", "9935.56109005", "9939.63922637"]
    assert [Decimal(v).quantize(Decimal("0.00000001")) for v in equity["equity"]] == [
        Decimal(v).quantize(Decimal("0.00000001")) for v in expected
    ]
    peak, trough = Decimal("10023.26609005"), Decimal("9935.56109005")
    assert metrics["max_drawdown_pct"] == pytest.approx(float((peak - trough) / peak * 100))
