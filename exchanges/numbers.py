"""Decimal helpers: every number the gateway returns is a Decimal, never a float."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any


def to_decimal(value: Any) -> Decimal | None:
    """`value` as a Decimal (floats through `str`, so 0.1 stays 0.1); None for None or junk."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def tidy(value: Decimal | int | None) -> Decimal | None:
    """Drop trailing zeros without switching to exponent notation (`100`, not `1E+2`)."""
    if value is None:
        return None
    normalized = Decimal(value).normalize()
    if normalized.as_tuple().exponent > 0:
        return normalized.quantize(Decimal(1))
    return normalized


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value`."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` not below `value`."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s."""
    return value % step == 0
