"""Serializer fields every app's API shares."""

from __future__ import annotations

import re
from decimal import Decimal

from rest_framework import serializers

from exchanges.numbers import plain_decimal

# Plain decimal notation in ASCII: an optional sign, digits with an optional fraction. No
# exponent, no spaces, no digit separators and no digits of other scripts: Python's Decimal
# takes "1_000", " 1 " and Arabic-Indic digits ("\u0661"), which a client cannot have meant as an
# amount, and which would be shown back in another form than they were sent.
PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class PlainDecimalField(serializers.DecimalField):
    """A decimal sent as a string in plain ASCII notation ("0.001", "95000"), or a JSON integer.

    Anything else is 400 at the field's pointer: exponents ("1e3"), spaces, underscores, other
    digits, and JSON numbers with a fraction (binary floats, whose digits are not the ones
    typed). Rendered in plain notation without trailing zeros ("0.00001", never "1E-5").
    `max_digits` and `decimal_places` default to none (any size); give them to bound a column.
    """

    default_error_messages = {
        "plain": (
            'Write the number as a string in plain decimal notation, e.g. "0.001": ASCII digits '
            "with an optional sign and point, no spaces, underscores or exponent."
        ),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", None)
        kwargs.setdefault("decimal_places", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)  # a JSON integer has exactly the digits that were sent
        if not isinstance(data, str) or not PLAIN_DECIMAL.fullmatch(data):
            self.fail("plain")
        return super().to_internal_value(data)

    def to_representation(self, value) -> str | None:
        if value is None:
            return None
        return plain_decimal(Decimal(value) if not isinstance(value, Decimal) else value)
