"""Concurrent orders on one demo account: real threads, real transactions and row locks.

On PostgreSQL the balance rows are locked with SELECT … FOR UPDATE; on SQLite every write
transaction takes the database lock at BEGIN. Either way no USDT is spent twice and one client
order id makes one order.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from exchanges.demo.venue import DemoGateway
from exchanges.exceptions import InsufficientFunds
from exchanges.models import DemoBalance, DemoFill, DemoOrder
from tests.exchanges.conftest import T0, Clock

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(count: int, work) -> list:
    """Run `work(i)` in `count` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            db_connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_orders_cannot_spend_the_same_usdt(demo_connection):
    gateway = DemoGateway(demo_connection, clock=Clock(T0))
    # ~0.03 BTC costs ~2,900 USDT: 10,000 USDT pays for 3 of the 8, whatever the interleaving.
    results = run_at_once(
        8,
        lambda i: DemoGateway(demo_connection, clock=Clock(T0)).create_order(
            "BTC/USDT", "market", "buy", "0.03"
        ),
    )

    placed = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(placed) + len(refused) == 8, results
    assert len(placed) == 3
    usdt = DemoBalance.objects.get(connection=demo_connection, asset="USDT")
    spent = sum(order["cost"] + order["fee"]["cost"] for order in placed)
    assert usdt.free == Decimal("10000") - spent
    assert usdt.free >= 0
    assert DemoBalance.objects.get(connection=demo_connection, asset="BTC").free == Decimal("0.09")
    assert DemoOrder.objects.count() == DemoFill.objects.count() == 3
    assert gateway.fetch_balance()["total"]["USDT"] == usdt.free


def test_concurrent_reserves_cannot_overlap(demo_connection):
    # A resting buy of 1 ETH at 1,000 reserves 1,001 USDT (price plus fee): 9 of 12 fit.
    results = run_at_once(
        12,
        lambda i: DemoGateway(demo_connection, clock=Clock(T0)).create_order(
            "ETH/USDT", "limit", "buy", "1", "1000.00"
        ),
    )

    placed = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert (len(placed), len(refused)) == (9, 3), results
    assert all(order["status"] == "open" for order in placed)
    usdt = DemoBalance.objects.get(connection=demo_connection, asset="USDT")
    reserve = Decimal("1001")
    assert (usdt.free, usdt.used) == (Decimal("10000") - 9 * reserve, 9 * reserve)


def test_the_same_client_order_id_at_once_makes_one_order(demo_connection):
    params = {"clientOrderId": "run-1-candle-99-entry"}
    results = run_at_once(
        6,
        lambda i: DemoGateway(demo_connection, clock=Clock(T0)).create_order(
            "SOL/USDT", "market", "buy", "3", params=params
        ),
    )

    assert all(isinstance(r, dict) for r in results), results
    assert len({r["id"] for r in results}) == 1
    assert DemoOrder.objects.count() == 1
    assert DemoBalance.objects.get(connection=demo_connection, asset="SOL").free == Decimal("3")


@pytest.mark.parametrize("account_opened", [True, False], ids=["usdt-held", "fresh-account"])
def test_concurrent_first_buys_of_a_coin_never_held_do_not_deadlock(
    demo_connection, account_opened
):
    """Defect 6.2: 24 first market buys of a coin at once; each one fills or is refused.

    The coin's balance row does not exist yet. Creating it while holding the USDT row's lock let
    a transaction that locked both rows in asset order wait for USDT while the first waited for
    the coin: PostgreSQL answered "deadlock detected".
    """
    if account_opened:
        DemoGateway(demo_connection, clock=Clock(T0)).fetch_balance()  # USDT row only
    count = 24
    # ~0.001 BTC costs ~95 USDT: 10,000 USDT pays for all of them.
    results = run_at_once(
        count,
        lambda i: DemoGateway(demo_connection, clock=Clock(T0)).create_order(
            "BTC/USDT", "market", "buy", "0.001"
        ),
    )

    failures = [r for r in results if not isinstance(r, dict)]
    assert failures == []
    assert DemoOrder.objects.filter(connection=demo_connection).count() == count
    assert (
        DemoBalance.objects.get(connection=demo_connection, asset="BTC").free
        == Decimal("0.001") * count
    )
    usdt = DemoBalance.objects.get(connection=demo_connection, asset="USDT")
    spent = sum(order["cost"] + order["fee"]["cost"] for order in results)
    assert usdt.free == Decimal("10000") - spent
