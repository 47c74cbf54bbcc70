"""Validation of strategy bodies: JSON Schema errors and semantic errors, with JSON pointers.

``validate_body`` returns every problem at once so an editor can mark all of them in one round
trip: the schema's errors (each ``required`` error points at the missing field, each unknown
field at itself) and the semantic errors that a schema cannot express (references, duplicate
names, MACD periods, cycles, pointless comparisons). Semantic checks look only at parts of the
body without schema errors of their own, so a typo in one place neither hides the problems
elsewhere nor produces follow-up noise about the same place.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA: dict[str, Any] = json.loads((Path(__file__).parent / "schema.json").read_text("utf-8"))

# Outputs of each indicator type; a single-output indicator is referenced without "output".
INDICATOR_OUTPUTS: dict[str, tuple[str, ...]] = {
    "sma": (),
    "ema": (),
    "rsi": (),
    "atr": (),
    "macd": ("macd", "signal", "histogram"),
    "bbands": ("upper", "middle", "lower"),
}
COMPARISONS = ("crosses_above", "crosses_below", "gt", "gte", "lt", "lte")
# Bounds on a condition tree: bodies come from users, and evaluation cost and error messages
# should stay proportional to something a person can read.
MAX_CONDITION_DEPTH = 8
MAX_COMPARISONS = 64
# The deepest JSON a valid body can nest: two levels per condition level ({"all": [...]}) plus
# the body, "exit", a comparison and its operands (18 in all). A body deeper than this bound is
# refused with one `too-deep` error before the schema runs, because the schema's recursive
# validation would exhaust Python's stack (conditions nested 400 deep did).
MAX_BODY_DEPTH = 2 * MAX_CONDITION_DEPTH + 8


@dataclass(frozen=True)
class FieldError:
    """One problem in a body: where (RFC 6901 pointer into the body), what, and a stable code."""

    pointer: str
    detail: str
    code: str


class InvalidBody(ValueError):
    """Raised by the engine's compiler for a body with errors; ``errors`` lists all of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"invalid strategy body ({len(errors)} errors)")
        self.errors = errors


def validate_body(body: Any) -> list[FieldError]:
    """Return every schema and semantic error of ``body``, sorted by pointer; [] when valid.

    A body nested deeper than ``MAX_BODY_DEPTH`` gets only its ``too-deep`` error.
    """
    too_deep = _too_deep(body)
    if too_deep is not None:
        return [too_deep]
    errors: set[FieldError] = set()
    broken: set[str] = set()  # pointers of instances that failed a schema keyword
    for error in _validator().iter_errors(body):
        path = _pointer(error.absolute_path)
        broken.add(path)
        errors.update(_from_schema_error(error, path))
    errors.update(_Semantics(body, broken).errors())
    return sorted(errors, key=_sort_key)


def _too_deep(body: Any) -> FieldError | None:
    """The first container of ``body`` at ``MAX_BODY_DEPTH`` or deeper, as an error; else None.

    Iterative, so a body of any depth is safe to check.
    """
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if isinstance(node, Mapping):
            children = [(_escape(key), value) for key, value in node.items()]
        elif isinstance(node, list):
            children = [(str(i), value) for i, value in enumerate(node)]
        else:
            continue
        if depth >= MAX_BODY_DEPTH:
            return FieldError(
                pointer,
                f"The body nests more than {MAX_BODY_DEPTH} levels deep; conditions may nest "
                f"at most {MAX_CONDITION_DEPTH} levels.",
                "too-deep",
            )
        stack.extend((value, f"{pointer}/{token}", depth + 1) for token, value in children)
    return None


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    # Built once per process: the schema is static and checking it is the costly part.
    return jsonschema.Draft202012Validator(SCHEMA)


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(path: Any) -> str:
    return "".join("/" + _escape(token) for token in path)


def _sort_key(error: FieldError) -> tuple[Any, ...]:
    # Natural order of pointer segments, so /indicators/2 comes before /indicators/10.
    segments = tuple(
        (0, int(s), "") if s.isdigit() else (1, 0, s) for s in error.pointer.split("/")[1:]
    )
    return (segments, error.code, error.detail)


_CODES = {
    "type": "invalid-type",
    "enum": "invalid-choice",
    "const": "invalid-choice",
    "minimum": "out-of-range",
    "maximum": "out-of-range",
    "exclusiveMinimum": "out-of-range",
    "exclusiveMaximum": "out-of-range",
    "minItems": "invalid-length",
    "maxItems": "invalid-length",
    "minLength": "invalid-length",
    "maxLength": "invalid-length",
    "minProperties": "invalid-fields",
    "maxProperties": "invalid-fields",
    "pattern": "invalid-format",
    "anyOf": "invalid-value",
    "oneOf": "invalid-value",
}


def _articled(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _default_detail(error: jsonschema.ValidationError) -> str:
    keyword, value = error.validator, error.validator_value
    if keyword == "type":
        names = [value] if isinstance(value, str) else list(value)
        return "Must be " + " or ".join(_articled(str(n)) for n in names) + "."
    if keyword == "enum":
        return "Must be one of: " + ", ".join(str(v) for v in value) + "."
    if keyword == "const":
        return f"Must be {json.dumps(value)}."
    bounds = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if keyword in bounds:
        return f"Must be {bounds[keyword]} {value}."
    sizes = {
        "minItems": "at least {} item(s)",
        "maxItems": "at most {} item(s)",
        "minLength": "at least {} character(s)",
        "maxLength": "at most {} character(s)",
        "minProperties": "at least {} field(s)",
        "maxProperties": "at most {} field(s)",
    }
    if keyword in sizes:
        return "Must have " + sizes[keyword].format(value) + "."
    if keyword == "pattern":
        return "Does not have the expected format."
    return error.message


def _from_schema_error(error: jsonschema.ValidationError, path: str) -> Iterator[FieldError]:
    """Turn one jsonschema error into field errors pointing where a person would look."""
    keyword, instance = error.validator, error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "required" and isinstance(instance, Mapping):
        # One error per missing field, at the field's own (absent) location.
        for name in error.validator_value:
            if name not in instance:
                yield FieldError(f"{path}/{_escape(name)}", "This field is required.", "required")
        return
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        for name in instance:
            if name not in allowed:
                detail = f"Unknown field {name!r}; expected one of: {', '.join(allowed)}."
                yield FieldError(f"{path}/{_escape(name)}", detail, "unknown-field")
        return
    detail = schema.get("errorMessage", {}).get(keyword) or _default_detail(error)
    yield FieldError(path, detail, _CODES.get(str(keyword), "invalid"))


@dataclass(frozen=True)
class _Indicator:
    index: int
    kind: str | None  # None when the type itself is invalid: its outputs are unknown


class _Semantics:
    """Checks a schema cannot express, run on the structurally valid parts of a body."""

    def __init__(self, body: Any, broken: set[str]) -> None:
        self.body = body
        self.broken = broken
        self.found: list[FieldError] = []
        self.indicators: dict[str, _Indicator] = {}
        self.comparisons = 0

    def errors(self) -> list[FieldError]:
        self._non_finite_numbers(self.body, "")
        if not isinstance(self.body, Mapping):
            return self.found
        self._indicators(self.body.get("indicators"))
        if "entry" in self.body:
            self._condition(self.body["entry"], "/entry", 1)
        exit_rules = self.body.get("exit")
        if isinstance(exit_rules, Mapping) and "signal" in exit_rules:
            self._condition(exit_rules["signal"], "/exit/signal", 1)
        return self.found

    def _add(self, pointer: str, detail: str, code: str) -> None:
        self.found.append(FieldError(pointer, detail, code))

    def _clean(self, pointer: str) -> bool:
        """True when no schema error sits at ``pointer`` or inside it."""
        return not any(b == pointer or b.startswith(pointer + "/") for b in self.broken)

    def _non_finite_numbers(self, value: Any, pointer: str) -> None:
        # JSON has no NaN/Infinity, but Python's parser accepts them and the schema's bounds
        # compare false against NaN, so they would slip through.
        if isinstance(value, float) and not math.isfinite(value):
            if self._clean(pointer):  # an infinite bound may already fail the schema there
                self._add(pointer, "Must be a finite number.", "not-finite")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self._non_finite_numbers(item, f"{pointer}/{_escape(key)}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._non_finite_numbers(item, f"{pointer}/{i}")

    # -- indicators --------------------------------------------------------------------------

    def _indicators(self, items: Any) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue
            name = item["name"]
            kind = item.get("type") if item.get("type") in INDICATOR_OUTPUTS else None
            if name in self.indicators:
                first = self.indicators[name].index
                self._add(
                    f"/indicators/{i}/name",
                    f"Indicator name {name!r} is already used by /indicators/{first}.",
                    "duplicate-indicator",
                )
                continue
            # Names with a schema error still count: a reference to them is not "unknown".
            self.indicators[name] = _Indicator(i, kind)
        sources: dict[int, str] = {}
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            self._macd_periods(item, f"/indicators/{i}")
            source = item.get("source")
            pointer = f"/indicators/{i}/source"
            if isinstance(source, Mapping) and self._clean(pointer):
                if self._reference(source, pointer):
                    sources[i] = source["ind"]
        self._cycles(items, sources)

    def _macd_periods(self, item: Mapping[str, Any], pointer: str) -> None:
        if item.get("type") != "macd":
            return
        fast, slow = item.get("fast"), item.get("slow")
        if not (self._clean(f"{pointer}/fast") and self._clean(f"{pointer}/slow")):
            return
        if isinstance(fast, int) and isinstance(slow, int) and fast >= slow:
            self._add(
                f"{pointer}/fast",
                f"The fast period ({fast}) must be shorter than the slow period ({slow}).",
                "macd-periods",
            )

    def _cycles(self, items: list[Any], sources: dict[int, str]) -> None:
        """Report every indicator whose source chain leads back to itself."""
        for start, target in sources.items():
            chain = [items[start]["name"]]
            seen = {start}
            current: int | None = self.indicators[target].index
            while current is not None and current not in seen:
                seen.add(current)
                chain.append(items[current]["name"])
                nxt = sources.get(current)
                current = self.indicators[nxt].index if nxt is not None else None
            if current == start:
                path = " → ".join([*chain, chain[0]])
                self._add(
                    f"/indicators/{start}/source",
                    f"Indicator {chain[0]!r} depends on itself: {path}.",
                    "indicator-cycle",
                )

    # -- references and conditions -----------------------------------------------------------

    def _reference(self, ref: Mapping[str, Any], pointer: str) -> bool:
        """Check {"ind": name, "output"?} at ``pointer``; True when it resolves."""
        name = ref.get("ind")
        if not isinstance(name, str):
            return False
        known = self.indicators.get(name)
        if known is None:
            declared = ", ".join(sorted(self.indicators)) or "none"
            self._add(
                f"{pointer}/ind",
                f"No indicator is named {name!r} (declared: {declared}).",
                "unknown-indicator",
            )
            return False
        if known.kind is None:
            return True  # its type is already reported; its outputs cannot be judged
        outputs = INDICATOR_OUTPUTS[known.kind]
        output = ref.get("output")
        if output is None and outputs:
            self._add(
                pointer,
                f"{name!r} is a {known.kind}; name its output: {', '.join(outputs)}.",
                "missing-output",
            )
            return False
        if output is not None and output not in outputs:
            detail = (
                f"{name!r} ({known.kind}) has outputs {', '.join(outputs)}."
                if outputs
                else f'{name!r} ({known.kind}) has a single value; remove "output".'
            )
            self._add(f"{pointer}/output", detail, "unknown-output")
            return False
        return True

    def _condition(self, node: Any, pointer: str, depth: int) -> None:
        if not isinstance(node, Mapping):
            return
        if depth > MAX_CONDITION_DEPTH:
            self._add(
                pointer,
                f"Conditions may nest at most {MAX_CONDITION_DEPTH} levels deep.",
                "too-deep",
            )
            return
        for key, value in node.items():
            child = f"{pointer}/{_escape(key)}"
            if key in ("all", "any") and isinstance(value, list):
                for i, item in enumerate(value):
                    self._condition(item, f"{child}/{i}", depth + 1)
            elif key == "not":
                self._condition(value, child, depth + 1)
            elif key in COMPARISONS and isinstance(value, list):
                self._comparison(key, value, child)

    def _comparison(self, operator: str, operands: list[Any], pointer: str) -> None:
        self.comparisons += 1
        if self.comparisons == MAX_COMPARISONS + 1:
            self._add(
                pointer,
                f"A strategy may use at most {MAX_COMPARISONS} comparisons.",
                "too-many-comparisons",
            )
        resolved = []
        for i, operand in enumerate(operands):
            op_pointer = f"{pointer}/{i}"
            if not self._clean(op_pointer):
                continue
            if isinstance(operand, Mapping) and "ind" in operand:
                if self._reference(operand, op_pointer):
                    resolved.append(operand)
            else:
                resolved.append(operand)
        if len(operands) != 2 or len(resolved) != 2:
            return
        left, right = resolved
        numbers = [isinstance(x, int | float) and not isinstance(x, bool) for x in resolved]
        if all(numbers):
            self._add(
                pointer,
                f"{operator} compares two constants; its result never changes.",
                "constant-comparison",
            )
        elif _same_operand(left, right):
            self._add(
                f"{pointer}/1",
                f"{operator} compares a value with itself; its result never changes.",
                "same-operands",
            )


def _same_operand(left: Any, right: Any) -> bool:
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return dict(left) == dict(right)
    return False
