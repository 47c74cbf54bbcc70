"""Lab services: datasets stored and hashed, backtests run reproducibly, failures stay readable."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import pkgutil
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command

from exchanges.demo import feed
from exchanges.demo.venue import DemoGateway
from lab import seed, services, storage
from lab.models import Backtest, BacktestTrade, Dataset
from tests.lab.conftest import DAY, PARAMS, make_version, sma_body
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


def queue(workspace, trader, version, dataset, **params) -> Backtest:
    return services.create_backtest(
        workspace=workspace,
        actor=trader,
        strategy_version=version,
        dataset=dataset,
        **{**PARAMS, **params},
    )


def run(backtest: Backtest) -> Backtest:
    services.run_backtest(backtest_id=str(backtest.pk))
    return Backtest.objects.get(pk=backtest.pk)


def results(backtest: Backtest):
    trades = list(
        BacktestTrade.objects.filter(backtest=backtest)
        .order_by("seq")
        .values_list(
            "seq", "entry_time", "exit_time", "entry_price", "exit_price", "amount", "pnl", "fees"
        )
    )
    curve = storage.read_equity(backtest.equity_path)
    return backtest.metrics, trades, curve.ts.tobytes() + curve.equity.tobytes()


# --------------------------------------------------------------------------- datasets


def test_demo_dataset_is_stored_with_range_rows_and_canonical_hash(dataset, lab_media):
    assert dataset.status == Dataset.Status.READY
    assert dataset.rows == 1440
    assert (dataset.start_ts, dataset.end_ts) == (DAY, DAY + timedelta(days=1))
    assert dataset.amount_step == Decimal("0.00001")
    path = lab_media / dataset.file_path
    assert path.is_file()
    assert dataset.file_path == f"datasets/{dataset.workspace_id}/{dataset.pk}.npz"
    assert dataset.size_bytes == path.stat().st_size

    # The documented canonical form: six little-endian float64 columns, concatenated.
    with np.load(path) as data:
        canonical = b"".join(data[name].astype("<f8").tobytes() for name in storage.FIELDS)
        assert data["ts"][0] == DAY.timestamp() * 1000
        assert np.all(np.diff(data["ts"]) == 60_000)
    assert dataset.sha256 == hashlib.sha256(canonical).hexdigest()
    assert AuditEvent.objects.filter(action="dataset.create", target_id=str(dataset.pk)).exists()


def test_same_candles_give_the_same_hash_in_another_workspace(dataset, other_workspace):
    from tests.conftest import _member
    from workspaces.models import Role

    again = services.create_demo_dataset(
        workspace=other_workspace,
        actor=_member(other_workspace, Role.OWNER),
        name="Same day",
        symbol="BTC/USDT",
        timeframe="1m",
        start=DAY,
        end=DAY + timedelta(days=1),
    )
    assert again.sha256 == dataset.sha256
    assert again.file_path != dataset.file_path


def test_demo_datasets_read_the_feed_through_the_demo_gateway(
    workspace, trader, settings, monkeypatch
):
    settings.LAB_IMPORT_PAGE_LIMIT = 100
    pages = []
    fetch = DemoGateway.fetch_ohlcv

    def counted(self, symbol, timeframe="1m", since=None, limit=None):
        pages.append((symbol, timeframe, since, limit))
        return fetch(self, symbol, timeframe, since, limit)

    monkeypatch.setattr(DemoGateway, "fetch_ohlcv", counted)
    dataset = services.create_demo_dataset(
        workspace=workspace,
        actor=trader,
        name="Through the venue",
        symbol="ETH/USDT",
        timeframe="5m",
        start=DAY,
        end=DAY + timedelta(hours=20),
    )
    start_ms = int(DAY.timestamp() * 1000)
    # 240 candles in pages of 100, each page asked from the last candle on.
    assert pages == [("ETH/USDT", "5m", start_ms + i * 100 * 300_000, 100) for i in range(3)]
    assert (dataset.rows, dataset.amount_step) == (240, Decimal("0.0001"))
    # The same candles as the feed's own, bit for bit.
    own = feed.candles("ETH/USDT", "5m", start_ms=start_ms, limit=240)
    candles = services.load_candles(dataset)
    for name in storage.FIELDS:
        assert np.array_equal(getattr(candles, name), getattr(own, name).astype(np.float64))

    # The lab's services know the demo exchange only as a gateway.
    for module in pkgutil.iter_modules(services.__path__):
        source = inspect.getsource(importlib.import_module(f"lab.services.{module.name}"))
        assert "exchanges.demo" not in source, module.name


def test_unknown_demo_symbol_is_400_naming_the_demo_markets(workspace, trader):
    from config.problems import ValidationProblem

    with pytest.raises(ValidationProblem) as caught:
        services.create_demo_dataset(
            workspace=workspace,
            actor=trader,
            name="Nope",
            symbol="DOGE/USDT",
            timeframe="1m",
            start=DAY,
            end=DAY + timedelta(hours=1),
        )
    error = caught.value.errors[0]
    assert error["pointer"] == "/symbol"
    assert "BTC/USDT, ETH/USDT" in error["detail"]
    assert services.default_amount_step("DOGE/USDT") is None
    assert services.default_amount_step("SOL/USDT") == Decimal("0.001")
    assert not Dataset.objects.exists()


def test_dataset_delete_is_refused_while_a_backtest_uses_it(
    workspace, trader, version, dataset, lab_media, django_capture_on_commit_callbacks
):
    from lab.exceptions import DatasetInUse

    backtest = run(queue(workspace, trader, version, dataset))
    with pytest.raises(DatasetInUse):
        services.delete_dataset(dataset=dataset, actor=trader)
    assert Dataset.objects.filter(pk=dataset.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.delete_backtest(backtest=backtest, actor=trader)
    assert not (lab_media / backtest.equity_path).exists()
    assert not BacktestTrade.objects.filter(backtest_id=backtest.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_dataset(dataset=dataset, actor=trader)
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not (lab_media / dataset.file_path).exists()


def test_seed_creates_the_demo_dataset_once(workspace, trader):
    first = seed.seed_demo(workspace=workspace, user=trader)
    dataset = Dataset.objects.get(workspace=workspace, name=seed.DEMO_DATASET)
    assert dataset.rows == 30 * 1440
    assert dataset.symbol == "BTC/USDT"
    assert dataset.timeframe == "1m"
    assert (dataset.end_ts.hour, dataset.end_ts.minute, dataset.end_ts.second) == (0, 0, 0)
    assert dataset.end_ts - dataset.start_ts == timedelta(days=30)
    second = seed.seed_demo(workspace=workspace, user=trader)
    assert Dataset.objects.filter(workspace=workspace).count() == 1
    assert "created" in first[0]
    assert "already there" in second[0]


def test_seed_demo_command_includes_the_lab(db):
    call_command("seed_demo")
    call_command("seed_demo")
    assert Dataset.objects.filter(name=seed.DEMO_DATASET).count() == 1


# --------------------------------------------------------------------------- inputs hash


def test_inputs_hash_is_sha256_of_the_documented_canonical_json(
    workspace, trader, version, dataset
):
    backtest = queue(workspace, trader, version, dataset, initial_cash=Decimal("10000.00"))
    canonical = json.dumps(
        {
            "amount_step": "0.00001",
            "dataset_sha256": dataset.sha256,
            "engine_version": services.ENGINE_VERSION,
            "fee_bps": "10",
            "initial_cash": "10000",
            "slippage_bps": "2",
            "strategy_body_sha256": version.body_sha256,
            "timeframe": "1m",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert backtest.inputs_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert backtest.engine_version == services.ENGINE_VERSION


def test_any_input_changes_the_hash(workspace, trader, version, dataset):
    base = queue(workspace, trader, version, dataset).inputs_sha256
    assert queue(workspace, trader, version, dataset).inputs_sha256 == base
    other_version = make_version(workspace, sma_body(12, 30), name="SMA 12/30")
    changed = [
        queue(workspace, trader, version, dataset, fee_bps=Decimal("11")),
        queue(workspace, trader, version, dataset, slippage_bps=Decimal("0")),
        queue(workspace, trader, version, dataset, initial_cash=Decimal("10000.01")),
        queue(workspace, trader, other_version, dataset),
    ]
    hashes = {b.inputs_sha256 for b in changed}
    assert base not in hashes
    assert len(hashes) == len(changed)


# --------------------------------------------------------------------------- backtests


def test_backtest_runs_to_succeeded_with_metrics_trades_and_equity(
    workspace, trader, version, dataset, lab_media
):
    backtest = queue(workspace, trader, version, dataset)
    assert backtest.status == Backtest.Status.QUEUED
    assert AuditEvent.objects.filter(action="backtest.create", target_id=str(backtest.pk)).exists()

    backtest = run(backtest)
    assert backtest.status == Backtest.Status.SUCCEEDED
    assert backtest.progress == 100
    assert backtest.error == ""
    assert backtest.started_at <= backtest.finished_at
    assert set(backtest.metrics) == {
        "net_pnl",
        "net_pnl_pct",
        "win_rate",
        "max_drawdown_pct",
        "trades",
        "profit_factor",
        "sharpe",
        "exposure_pct",
    }
    trades = BacktestTrade.objects.filter(backtest=backtest).order_by("seq")
    assert backtest.metrics["trades"] == trades.count() > 0
    assert [t.seq for t in trades] == list(range(1, trades.count() + 1))
    assert all(t.entry_time < t.exit_time for t in trades)
    assert set(backtest.timings_ms) == {"load", "engine", "save"}

    curve = storage.read_equity(backtest.equity_path)
    assert len(curve) == dataset.rows
    assert curve.equity[-1] == pytest.approx(float(backtest.final_equity), abs=1e-8)
    # Net PnL is the last equity minus the initial cash (an open position marked at the close).
    assert Decimal(backtest.metrics["net_pnl"]) == backtest.final_equity - backtest.initial_cash


def test_same_backtest_twice_and_a_rerun_give_identical_results(
    workspace, trader, version, dataset
):
    first = run(queue(workspace, trader, version, dataset))
    second = run(queue(workspace, trader, version, dataset))
    rerun = run(services.rerun_backtest(backtest=first, actor=trader))

    assert first.inputs_sha256 == second.inputs_sha256 == rerun.inputs_sha256
    assert rerun.rerun_of_id == first.pk
    assert (rerun.initial_cash, rerun.fee_bps, rerun.slippage_bps) == (
        first.initial_cash,
        first.fee_bps,
        first.slippage_bps,
    )
    assert results(first) == results(second) == results(rerun)
    assert AuditEvent.objects.filter(action="backtest.rerun", target_id=str(rerun.pk)).exists()


def test_a_duplicate_task_message_changes_nothing(workspace, trader, version, dataset):
    backtest = run(queue(workspace, trader, version, dataset))
    before = results(backtest)
    assert services.run_backtest(backtest_id=str(backtest.pk)) is None
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.SUCCEEDED
    assert results(backtest) == before


def test_changed_dataset_file_fails_with_a_readable_error_and_keeps_nothing(
    workspace, trader, version, dataset, lab_media
):
    backtest = queue(workspace, trader, version, dataset)
    path = lab_media / dataset.file_path
    with np.load(path) as data:
        arrays = {name: data[name].copy() for name in storage.FIELDS}
    arrays["close"][5] += 1.0
    np.savez(path, **arrays)

    backtest = run(backtest)
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error == "The dataset's file no longer matches its sha256."
    assert backtest.finished_at is not None
    assert backtest.metrics == {}
    assert backtest.equity_path == ""
    assert not BacktestTrade.objects.filter(backtest=backtest).exists()
    assert not (lab_media / storage.equity_relpath(workspace.pk, backtest.pk)).exists()


def test_missing_dataset_file_fails_readably(workspace, trader, version, dataset, lab_media):
    backtest = queue(workspace, trader, version, dataset)
    (lab_media / dataset.file_path).unlink()
    backtest = run(backtest)
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error == "The dataset's file is missing from storage."


def test_a_body_the_engine_rejects_fails_readably(workspace, trader, dataset):
    body = sma_body()
    # Stored bodies are validated on save; this one predates a stricter engine, say.
    body["indicators"][1]["period"] = 0
    version = make_version(workspace, body)
    backtest = run(queue(workspace, trader, version, dataset))
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error.startswith("Strategy version 1 is not valid under engine")
    assert "/indicators/1/period" in backtest.error
    assert "Traceback" not in backtest.error


def test_an_unexpected_crash_is_failed_without_a_traceback(
    workspace, trader, version, dataset, monkeypatch
):
    def explode(*args, **kwargs):
        raise ZeroDivisionError("division by zero deep inside")

    monkeypatch.setattr(services.backtests, "simulate", explode)
    backtest = run(queue(workspace, trader, version, dataset))
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error.startswith("The backtest failed unexpectedly")
    assert "ZeroDivisionError" not in backtest.error
    assert "deep inside" not in backtest.error


def test_mismatched_strategy_and_dataset_are_refused(workspace, trader, dataset):
    from config.problems import ValidationProblem

    eth = make_version(workspace, sma_body(symbol="ETH/USDT"), name="ETH")
    with pytest.raises(ValidationProblem) as caught:
        queue(workspace, trader, eth, dataset)
    assert caught.value.errors[0]["pointer"] == "/dataset"
    assert "ETH/USDT" in caught.value.errors[0]["detail"]
    hourly = make_version(workspace, sma_body(timeframe="1h"), name="Hourly")
    with pytest.raises(ValidationProblem):
        queue(workspace, trader, hourly, dataset)
    assert not Backtest.objects.exists()


def test_active_backtest_cannot_be_deleted(workspace, trader, version, dataset):
    from lab.exceptions import BacktestActive

    backtest = queue(workspace, trader, version, dataset)
    with pytest.raises(BacktestActive):
        services.delete_backtest(backtest=backtest, actor=trader)


def test_plain_decimal():
    assert services.plain_decimal(Decimal("10000.00000000")) == "10000"
    assert services.plain_decimal(Decimal("0.50")) == "0.5"
    assert services.plain_decimal(Decimal("1E+3")) == "1000"
    assert services.plain_decimal(Decimal("0.00001000")) == "0.00001"


def test_a_run_that_lost_its_worker_is_failed_by_the_sweep(workspace, trader, version, dataset):
    from django.utils import timezone

    stuck = queue(workspace, trader, version, dataset)
    fresh = queue(workspace, trader, version, dataset)
    waiting = queue(workspace, trader, version, dataset)
    Backtest.objects.filter(pk=stuck.pk).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=16)
    )
    Backtest.objects.filter(pk=fresh.pk).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.fail_stale_backtests() == 1
    stuck.refresh_from_db()
    assert stuck.status == Backtest.Status.FAILED
    assert "rerun it" in stuck.error
    assert Backtest.objects.get(pk=fresh.pk).status == Backtest.Status.RUNNING
    assert Backtest.objects.get(pk=waiting.pk).status == Backtest.Status.QUEUED
    services.delete_backtest(backtest=stuck, actor=trader)  # now it can go
