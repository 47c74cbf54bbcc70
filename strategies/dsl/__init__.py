"""The strategy DSL (version 1): JSON Schema, validation with JSON pointers, example bodies.

Pure Python; the Django app serves ``SCHEMA`` at ``GET /api/v1/strategies/schema`` and turns the
``FieldError`` list of ``validate_body`` into a 400 problem+json. See docs/strategy-dsl.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from strategies.dsl.validation import (
    INDICATOR_OUTPUTS,
    SCHEMA,
    FieldError,
    InvalidBody,
    validate_body,
)

DSL_VERSION = 1

_EXAMPLES_DIR = Path(__file__).parent / "examples"


def examples() -> dict[str, dict[str, Any]]:
    """Return the bundled example strategies as ``{name: body}``, fresh copies on each call."""
    return {
        path.stem: json.loads(path.read_text("utf-8"))
        for path in sorted(_EXAMPLES_DIR.glob("*.json"))
    }


__all__ = [
    "DSL_VERSION",
    "INDICATOR_OUTPUTS",
    "SCHEMA",
    "FieldError",
    "InvalidBody",
    "examples",
    "validate_body",
]
