"""Decimals and their strings: every number the gateway returns is a Decimal, never a float.

`to_decimal` reads what a venue sends (Decimals, strings, floats through `str`); `plain_decimal`
writes a number the way the API, the journal's audit details and the lab's input hashes show
it: plain notation without trailing zeros ("10000", "0.00000001", never "1E+4" or "1E-8");
`tidy` is the same value as a Decimal. All three are exact: no context precision applies.
"""

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


def plain_decimal(value: Decimal | int | float | str) -> str:
    """`value` in plain notation without trailing zeros: 10000.00 → "10000", 0.50 → "0.5".

    A float (also a NumPy float) is written with the shortest digits that read back as the same
    float: 0.1 → "0.1", 1e-07 → "0.0000001". A value that is not a finite number is ValueError.
    """
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):  # also bool: True → "1"
        number = Decimal(value)
    else:
        # str() of a float is its shortest round-trip form; of a str, the str itself.
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number.") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number.")
    text = format(number, "f")  # exact: "f" without a precision writes every digit there is
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def tidy(value: Decimal | int | None) -> Decimal | None:
    """`value` without trailing zeros (`Decimal("100")`, not `1E+2`); None stays None."""
    if value is None:
        return None
    return Decimal(plain_decimal(value))


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value`."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` not below `value`."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s."""
    return value % step == 0
