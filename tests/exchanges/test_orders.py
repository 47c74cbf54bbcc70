"""The one order check over ccxt's unified market, and the shared order vocabulary."""

from decimal import Decimal

import pytest

from config.problems import ValidationProblem
from exchanges.demo.instruments import INSTRUMENTS
from exchanges.demo.venue import demo_market
from exchanges.exceptions import InvalidOrder
from exchanges.models import DemoOrder
from exchanges.orders import (
    OrderStatus,
    check_order,
    check_venue_order,
    market_limit,
    market_step,
)
from terminal.models import Order

BTC = demo_market(INSTRUMENTS["BTC/USDT"])  # lot 0.00001, tick 0.01, notional ≥ 5 USDT


def errors(market, **order) -> list[tuple[str, str]]:
    with pytest.raises(ValidationProblem) as raised:
        check_order(market, **order)
    assert raised.value.status_code == 400
    return [(error["pointer"], error["detail"]) for error in raised.value.errors]


def test_a_valid_order_comes_back_as_decimals():
    assert check_order(BTC, order_type="limit", amount="0.0010", price="90000.10") == (
        Decimal("0.0010"),
        Decimal("90000.10"),
    )
    assert check_order(BTC, order_type="market", amount=Decimal("0.001"), price=None) == (
        Decimal("0.001"),
        None,
    )


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (
            {"order_type": "market", "amount": "0.000015", "price": None},
            [("/amount", "The amount must be a multiple of 0.00001 BTC.")],
        ),
        (
            {"order_type": "market", "amount": "0", "price": None},
            [("/amount", "The amount must be a positive number.")],
        ),
        (
            {"order_type": "market", "amount": "abc", "price": None},
            [("/amount", "The amount must be a positive number.")],
        ),
        (
            {"order_type": "market", "amount": "10000", "price": None},
            [("/amount", "The amount must be at most 9000 BTC.")],
        ),
        (
            {"order_type": "limit", "amount": "0.001", "price": None},
            [("/price", "A limit order needs a price.")],
        ),
        (
            {"order_type": "market", "amount": "0.001", "price": "90000"},
            [("/price", "A market order takes no price; leave it out.")],
        ),
        (
            {"order_type": "limit", "amount": "0.001", "price": "90000.005"},
            [("/price", "The price must be a multiple of 0.01 USDT.")],
        ),
        (
            {"order_type": "limit", "amount": "0.001", "price": "-1"},
            [("/price", "The price must be a positive number.")],
        ),
        (
            {"order_type": "limit", "amount": "0.00001", "price": "90000"},
            [("/amount", "The order is worth 0.9 USDT; the minimum is 5 USDT.")],
        ),
        (
            {"order_type": "stop", "amount": "0.001", "price": None},
            [("/type", "The order type must be one of market, limit.")],
        ),
        (
            {"order_type": "market", "side": "hold", "amount": "0.001", "price": None},
            [("/side", "The side must be one of buy, sell.")],
        ),
    ],
)
def test_each_rule_points_at_its_field(order, expected):
    assert errors(BTC, **order) == expected


def test_every_broken_rule_is_reported_at_once():
    found = errors(BTC, order_type="limit", amount="0.000015", price=None)
    assert [pointer for pointer, _ in found] == ["/amount", "/price"]


def test_the_minimum_notional_waits_for_the_other_rules():
    # Off the tick and below the notional: only the tick is reported (the notional of a price
    # that is wrong anyway says nothing).
    assert [p for p, _ in errors(BTC, order_type="limit", amount="0.00001", price="1.001")] == [
        "/price"
    ]


def test_a_market_without_precision_or_limits_checks_what_it_can():
    bare = {"symbol": "X/Y", "base": "X", "quote": "Y", "precision": {}, "limits": {}}
    assert check_order(bare, order_type="limit", amount="0.123456789", price="1.23456789") == (
        Decimal("0.123456789"),
        Decimal("1.23456789"),
    )
    assert market_step(bare, "amount") is None
    assert market_limit(bare, "cost", "min") is None
    assert errors(bare, order_type="limit", amount="-1", price=None) == [
        ("/amount", "The amount must be a positive number."),
        ("/price", "A limit order needs a price."),
    ]


def test_steps_below_a_millionth_are_written_plainly():
    tiny = {"base": "SHIB", "quote": "USDT", "precision": {"amount": Decimal("1E-8")}}
    assert errors(tiny, order_type="market", amount="0.000000015", price=None) == [
        ("/amount", "The amount must be a multiple of 0.00000001 SHIB.")
    ]


def test_a_venue_refuses_the_same_rules_as_invalid_order_with_every_pointer():
    with pytest.raises(InvalidOrder) as raised:
        check_venue_order(BTC, side="buy", order_type="limit", amount="0.000015", price=None)
    assert raised.value.code == "invalid-order"
    assert [e["pointer"] for e in raised.value.errors] == ["/amount", "/price"]
    assert raised.value.detail_text == "The amount must be a multiple of 0.00001 BTC."


def test_the_journal_and_the_demo_exchange_speak_one_vocabulary():
    assert Order.Status is DemoOrder.Status is OrderStatus
    assert Order.Side is DemoOrder.Side
    assert Order.Type is DemoOrder.Type
    assert OrderStatus.values == ["open", "closed", "canceled", "expired", "rejected"]
