"""The order vocabulary and the one check of an order against its market.

Sides, types and statuses are ccxt's unified ones. The gateway's order dicts, the demo
exchange's `DemoOrder` and the terminal's journal (`terminal.models.Order`) all use these
choices, so a status read from any venue is a status of the journal.

`check_order` holds every rule that needs only the order and ccxt's unified market structure
(precision as step sizes, `limits.amount`, `limits.cost`). The terminal runs it before it
journals an order; every venue runs it again in `create_order`, whoever calls it. What needs
the account or the price right now (the free balance, a market order's notional) stays with
the venue, the authority on both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models

from config.problems import ValidationProblem
from exchanges.exceptions import InvalidOrder
from exchanges.numbers import is_multiple, plain_decimal, to_decimal


class OrderSide(models.TextChoices):
    BUY = "buy"
    SELL = "sell"


class OrderType(models.TextChoices):
    MARKET = "market"  # fills at the market's price now; takes no price
    LIMIT = "limit"  # fills at its price or better; rests until then


class OrderStatus(models.TextChoices):
    OPEN = "open"  # resting (or, in the journal, being sent): not finished
    CLOSED = "closed"  # filled completely
    CANCELED = "canceled"  # canceled; `filled` says how much had filled before
    EXPIRED = "expired"  # the venue ended it (time in force); the demo never does
    REJECTED = "rejected"  # refused by the venue (in the journal: or it never reached it)


# Statuses an order never leaves.
FINISHED_STATUSES: tuple[str, ...] = (
    OrderStatus.CLOSED,
    OrderStatus.CANCELED,
    OrderStatus.EXPIRED,
    OrderStatus.REJECTED,
)


def market_limit(market: dict[str, Any], name: str, bound: str) -> Decimal | None:
    """`market["limits"][name][bound]` as a Decimal ("amount", "min" …); None if not given."""
    return to_decimal(((market.get("limits") or {}).get(name) or {}).get(bound))


def market_step(market: dict[str, Any], name: str) -> Decimal | None:
    """The step of `market["precision"][name]` ("amount" or "price"); None if not given."""
    return to_decimal((market.get("precision") or {}).get(name))


def _positive(value: Any) -> Decimal | None:
    number = to_decimal(value)
    return number if number is not None and number > 0 else None


def check_order(
    market: dict[str, Any],
    *,
    order_type: str,
    amount: Any,
    price: Any,
    side: str | None = None,
) -> tuple[Decimal, Decimal | None]:
    """Check an order against ccxt's unified `market`; return its amount and price as Decimals.

    Every broken rule is reported at once, as ValidationProblem (400) with a JSON pointer named
    after the order's field (`/amount`, `/price`, `/type`, `/side`). `side` is checked when
    given. The minimum notional is checked here only when the order names its price (a limit
    order); a market order's is the venue's to check at the price it fills at.
    """
    base, quote = market.get("base") or "", market.get("quote") or ""
    errors: list[dict[str, str]] = []

    def error(pointer: str, detail: str) -> None:
        errors.append({"pointer": pointer, "detail": detail})

    if order_type not in OrderType.values:
        error("/type", f"The order type must be one of {', '.join(OrderType.values)}.")
    if side is not None and side not in OrderSide.values:
        error("/side", f"The side must be one of {', '.join(OrderSide.values)}.")

    decimal_amount = _positive(amount)
    if decimal_amount is None:
        error("/amount", "The amount must be a positive number.")
    else:
        step = market_step(market, "amount")
        least, most = market_limit(market, "amount", "min"), market_limit(market, "amount", "max")
        if step and not is_multiple(decimal_amount, step):
            error("/amount", f"The amount must be a multiple of {plain_decimal(step)} {base}.")
        if least and decimal_amount < least:
            error("/amount", f"The amount must be at least {plain_decimal(least)} {base}.")
        if most and decimal_amount > most:
            error("/amount", f"The amount must be at most {plain_decimal(most)} {base}.")

    decimal_price = None
    if price is not None:
        decimal_price = _positive(price)
        if decimal_price is None:
            error("/price", "The price must be a positive number.")
        elif order_type == OrderType.MARKET:
            error("/price", "A market order takes no price; leave it out.")
        else:
            step = market_step(market, "price")
            if step and not is_multiple(decimal_price, step):
                error("/price", f"The price must be a multiple of {plain_decimal(step)} {quote}.")
    elif order_type == OrderType.LIMIT:
        error("/price", "A limit order needs a price.")

    least_cost = market_limit(market, "cost", "min")
    if not errors and decimal_price is not None and least_cost:
        notional = decimal_amount * decimal_price
        if notional < least_cost:
            error(
                "/amount",
                f"The order is worth {plain_decimal(notional)} {quote}; the minimum is "
                f"{plain_decimal(least_cost)} {quote}.",
            )
    if errors:
        raise ValidationProblem(errors)
    return decimal_amount, decimal_price


def check_venue_order(
    market: dict[str, Any], *, side: str, order_type: str, amount: Any, price: Any
) -> tuple[Decimal, Decimal | None]:
    """`check_order` for a venue's `create_order`: the same rules, refused as InvalidOrder.

    The gateway answers with its own problems only (exchanges.exceptions), whoever calls it.
    """
    try:
        return check_order(market, side=side, order_type=order_type, amount=amount, price=price)
    except ValidationProblem as problem:
        raise InvalidOrder(problem.errors[0]["detail"], errors=problem.errors) from None


def client_order_id_of(params: dict[str, Any] | None) -> str | None:
    """The client order id a caller put in `params` (ccxt's unified `clientOrderId`)."""
    value = (params or {}).get("clientOrderId")
    if value is None or value == "":
        return None
    return str(value)
