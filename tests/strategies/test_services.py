"""Strategy services: versions, hashes, validation errors, deletes, concurrency and the seed."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from config.problems import ValidationProblem
from strategies import seed, services
from strategies.dsl import examples
from strategies.exceptions import StrategyInUse, VersionUnchanged
from strategies.models import Strategy, StrategyVersion, VersionImmutable, body_sha256
from tests.conftest import _member
from tests.strategies.conftest import canonical_sha256, make_backtest, sma_body
from workspaces.models import AuditEvent, Role

pytestmark = pytest.mark.django_db


def test_sha256_is_over_the_canonical_json():
    body = {"b": "Ж", "a": [1, 2.5], "dsl_version": 1}
    assert body_sha256(body) == canonical_sha256(body)
    assert body_sha256(dict(reversed(list(body.items())))) == body_sha256(body)
    # Non-ASCII text is hashed as UTF-8, not as \u escapes.
    assert body_sha256({"x": "Ж"}) != body_sha256({"x": "\\u0416"})


def test_create_strategy_stores_version_1_as_written(workspace, trader):
    body = sma_body()
    body["sizing"] = {"value": 50, "type": "percent_equity"}
    body = {"symbol": body.pop("symbol"), **body}  # not the example's order
    strategy = services.create_strategy(
        workspace=workspace, actor=trader, name="Half in", body=body
    )
    version = strategy.versions.get()
    assert (version.number, version.created_by) == (1, trader)
    assert version.body == body
    assert version.body_sha256 == canonical_sha256(body)
    assert list(version.authored_body) == list(body)
    assert next(iter(version.authored_body)) == "symbol"
    assert list(version.authored_body["sizing"]) == ["value", "type"]


def test_create_version_numbers_up_and_touches_updated_at(strategy, trader):
    first = strategy.versions.get()
    before = Strategy.objects.get(pk=strategy.pk).updated_at
    second = services.create_version(strategy=strategy, actor=trader, body=sma_body(timeframe="5m"))
    third = services.create_version(strategy=strategy, actor=trader, body=sma_body(timeframe="1h"))
    assert [second.number, third.number] == [2, 3]
    assert Strategy.objects.get(pk=strategy.pk).updated_at > before
    first_again = StrategyVersion.objects.get(pk=first.pk)
    assert (first_again.body_text, first_again.body_sha256, first_again.created_at) == (
        first.body_text,
        first.body_sha256,
        first.created_at,
    )
    assert AuditEvent.objects.filter(action="strategy.version_create").count() == 2


def test_an_existing_version_cannot_be_saved_again(strategy):
    version = strategy.versions.get()
    version.body = sma_body(timeframe="1d")
    with pytest.raises(VersionImmutable):
        version.save()
    assert StrategyVersion.objects.get(pk=version.pk).body["timeframe"] == "1m"


def test_the_same_body_as_the_latest_is_refused(strategy, trader):
    with pytest.raises(VersionUnchanged):
        services.create_version(strategy=strategy, actor=trader, body=sma_body())
    # Going back to an older body is a change, though.
    services.create_version(strategy=strategy, actor=trader, body=sma_body(timeframe="5m"))
    again = services.create_version(strategy=strategy, actor=trader, body=sma_body())
    assert again.number == 3
    assert again.body_sha256 == strategy.versions.get(number=1).body_sha256


def test_body_errors_are_prefixed_with_where_the_body_sits():
    body = sma_body(timeframe="2m")
    body["indicators"][0]["period"] = float("nan")
    errors = services.body_errors(body, body_pointer="/strategy/body")
    assert [(e["pointer"], e["code"]) for e in errors] == [
        ("/strategy/body/indicators/0/period", "invalid-type"),
        ("/strategy/body/timeframe", "invalid-choice"),
    ]
    assert services.body_errors(sma_body()) == []


def test_compile_body_gives_the_plan_or_every_error():
    plan = services.compile_body(examples()["macd_trend"])
    assert plan.warmup == 49
    with pytest.raises(ValidationProblem) as raised:
        services.compile_body({"dsl_version": 1})
    pointers = [e["pointer"] for e in raised.value.errors]
    assert pointers == ["/body/entry", "/body/exit", "/body/indicators", "/body/sizing",
                        "/body/symbol", "/body/timeframe"]  # fmt: skip


def test_invalid_body_creates_nothing(workspace, trader):
    with pytest.raises(ValidationProblem):
        services.create_strategy(
            workspace=workspace, actor=trader, name="Bad", body=sma_body(symbol="btc-usdt")
        )
    assert not Strategy.objects.exists()
    assert not AuditEvent.objects.filter(action="strategy.create").exists()


def test_update_without_changes_writes_no_audit(strategy, trader):
    services.update_strategy(strategy=strategy, actor=trader, name="Trend", description="SMA 10/30")
    assert not AuditEvent.objects.filter(action="strategy.update").exists()


def test_delete_refused_while_used_keeps_everything_and_its_audit_rolls_back(strategy, trader):
    make_backtest(strategy.versions.get())
    with pytest.raises(StrategyInUse) as raised:
        services.delete_strategy(strategy=strategy, actor=trader)
    assert "1 backtests" in raised.value.detail_text
    assert Strategy.objects.filter(pk=strategy.pk).exists()
    assert strategy.versions.count() == 1
    assert not AuditEvent.objects.filter(action="strategy.delete").exists()


def test_seed_gives_the_demo_workspace_one_sma_crossover(workspace):
    owner = _member(workspace, Role.OWNER)
    first = seed.seed_demo(workspace=workspace, user=owner)
    second = seed.seed_demo(workspace=workspace, user=owner)
    strategy = Strategy.objects.get(workspace=workspace)
    assert strategy.name == "SMA crossover"
    version = strategy.versions.get()
    assert version.body == examples()["sma_crossover"]
    assert version.body_sha256 == canonical_sha256(examples()["sma_crossover"])
    assert first[0].startswith("created strategy 'SMA crossover' v1")
    assert second == ["strategy 'SMA crossover' already there"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_get_distinct_consecutive_numbers(workspace):
    trader = _member(workspace, Role.TRADER)
    strategy = services.create_strategy(
        workspace=workspace, actor=trader, name="Raced", body=sma_body()
    )
    writers = 6
    barrier = threading.Barrier(writers)
    numbers: list[int] = []
    failures: list[BaseException] = []

    def save(period: int) -> None:
        body = sma_body()
        body["indicators"][0]["period"] = period
        try:
            barrier.wait(timeout=10)
            version = services.create_version(strategy=strategy, actor=trader, body=body)
            numbers.append(version.number)
        except BaseException as exc:  # reported below, with the thread's own error
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(11 + i,)) for i in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert time.monotonic() - started < 60
    assert sorted(numbers) == list(range(2, 2 + writers))
    stored = list(strategy.versions.order_by("number").values_list("number", "body_sha256"))
    assert [n for n, _ in stored] == list(range(1, 2 + writers))
    assert len({sha for _, sha in stored}) == 1 + writers
