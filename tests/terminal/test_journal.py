"""The journal's `transition` from a caller's copy: one UPDATE when the copy is current, the
row as it is (locked and re-read) when it is not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from terminal import services
from terminal.exceptions import IllegalOrderTransition
from terminal.models import Order, OrderEvent
from tests.terminal.conftest import place
from tests.terminal.test_orders_api import resting_buy_price

pytestmark = pytest.mark.django_db


@pytest.fixture
def resting(trader_api, connection) -> Order:
    response = place(trader_api, connection, type="limit", price=str(resting_buy_price("BTC/USDT")))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def test_a_current_copy_moves_in_one_update_without_a_locked_read(resting):
    with CaptureQueriesContext(db) as captured:
        moved = services.transition(resting, Order.Status.CANCELED, message="canceled")

    statements = [query["sql"] for query in captured.captured_queries]
    assert not any("FOR UPDATE" in sql for sql in statements)
    assert sum(sql.startswith("UPDATE") for sql in statements) == 1
    assert moved.status == "canceled"
    assert Order.objects.get(pk=resting.pk).status == "canceled"
    event = OrderEvent.objects.filter(order=resting).latest("created_at")
    assert (event.from_status, event.to_status, event.message) == ("open", "canceled", "canceled")


def test_the_callers_copy_is_left_as_it_was(resting):
    moved = services.transition(resting, Order.Status.CANCELED)

    assert resting.status == "open"
    assert moved is not resting
    assert moved.status == "canceled"
    assert moved.updated_at > resting.updated_at


def test_a_stale_copy_cannot_reopen_or_move_a_finished_order(resting):
    stale = Order.objects.get(pk=resting.pk)  # read before the cancel below
    services.transition(resting, Order.Status.CANCELED)
    events = OrderEvent.objects.filter(order=resting).count()

    with pytest.raises(IllegalOrderTransition):
        services.transition(stale, Order.Status.CLOSED, changes={"filled": stale.amount})

    row = Order.objects.get(pk=resting.pk)
    assert (row.status, row.filled) == ("canceled", Decimal(0))
    assert OrderEvent.objects.filter(order=resting).count() == events


def test_a_stale_copy_settles_on_the_row_as_it_is(resting):
    stale = Order.objects.get(pk=resting.pk)
    part = (resting.amount / 2).quantize(Decimal("0.00000001"))
    services.transition(resting, Order.Status.OPEN, changes={"filled": part})  # a partial fill

    moved = services.transition(stale, Order.Status.CLOSED, changes={"filled": resting.amount})

    assert moved.status == "closed"
    assert moved.filled == resting.amount
    row = Order.objects.get(pk=resting.pk)
    assert (row.status, row.filled) == ("closed", resting.amount)
    events = list(OrderEvent.objects.filter(order=resting).order_by("created_at"))
    assert [(e.from_status, e.to_status, e.filled) for e in events[-2:]] == [
        ("open", "open", part),
        ("open", "closed", resting.amount),
    ]
