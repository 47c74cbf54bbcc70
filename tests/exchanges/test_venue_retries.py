"""Retries of a demo order (the same client order id): always the first order back, whether
the account could pay for it again (the unique constraint refuses the second row) or not (a
refusal is answered with the order already placed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import DemoBalance, DemoFill, DemoOrder
from tests.exchanges.conftest import MINUTE

pytestmark = pytest.mark.django_db


def balances(connection) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        row.asset: (row.free, row.used) for row in DemoBalance.objects.filter(connection=connection)
    }


def test_a_retry_the_account_could_pay_again_places_nothing(venue, clock, demo_connection):
    params = {"clientOrderId": "tick-1-entry"}
    first = venue.create_order("BTC/USDT", "market", "buy", "0.001", params=params)
    after_first = balances(demo_connection)
    clock.now_ms += MINUTE  # another price: a second fill would change the balances

    again = venue.create_order("BTC/USDT", "market", "buy", "0.001", params=params)

    assert again == first
    assert DemoOrder.objects.count() == DemoFill.objects.count() == 1
    assert balances(demo_connection) == after_first


def test_a_retry_of_a_resting_order_reserves_nothing_more(venue, demo_connection):
    params = {"clientOrderId": "tick-2-entry"}
    first = venue.create_order("ETH/USDT", "limit", "buy", "1", "1000.00", params=params)
    after_first = balances(demo_connection)

    again = venue.create_order("ETH/USDT", "limit", "buy", "1", "1000.00", params=params)

    assert again == first
    assert again["status"] == "open"
    assert DemoOrder.objects.count() == 1
    assert balances(demo_connection) == after_first


def test_a_retry_the_venue_would_refuse_now_gets_the_first_order(venue, demo_connection):
    params = {"clientOrderId": "tick-3-exit"}
    first = venue.create_order("BTC/USDT", "market", "buy", "0.001", params=params)

    # Below the minimum notional, and more than the account holds: refused, were it new.
    tiny = venue.create_order("BTC/USDT", "market", "buy", "0.00001", params=params)
    huge = venue.create_order("BTC/USDT", "market", "buy", "5", params=params)

    assert tiny == huge == first
    assert DemoOrder.objects.count() == 1
