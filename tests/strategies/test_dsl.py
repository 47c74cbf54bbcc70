"""The DSL contract: schema, examples, and validation with pointers (schema + semantic)."""

from __future__ import annotations

import copy
import dataclasses

import jsonschema
import pytest

from strategies.dsl import DSL_VERSION, SCHEMA, FieldError, examples, validate_body

EXAMPLE_NAMES = {
    "sma_crossover",
    "rsi_mean_reversion",
    "macd_trend",
    "bollinger_breakout",
    "atr_trailing_stop",
}


def pointers(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in errors]


def seed() -> dict:
    return examples()["sma_crossover"]


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["dsl_version"]["const"] == DSL_VERSION == 1


def _object_schemas(node, path=""):
    if isinstance(node, dict):
        if "properties" in node and not path.endswith(("/if", "/then")):
            yield path, node
        for key, value in node.items():
            yield from _object_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _object_schemas(value, f"{path}/{i}")


def test_every_object_rejects_unknown_fields_and_every_field_is_described():
    for path, schema in _object_schemas(SCHEMA):
        if path == "/$defs/indicator":
            # The discriminated base: each type's branch (/$defs/sma …) closes the object.
            assert all("then" in branch for branch in schema["allOf"])
            continue
        assert schema.get("additionalProperties") is False, path
        for name, prop in schema["properties"].items():
            described = "description" in prop or "$ref" in prop or "const" in prop
            assert described, f"{path}/properties/{name}"
    for name, definition in SCHEMA["$defs"].items():
        assert definition.get("description"), name


def test_examples_are_the_five_and_all_validate():
    bodies = examples()
    assert set(bodies) == EXAMPLE_NAMES
    for name, body in bodies.items():
        assert validate_body(body) == [], name
        assert body["dsl_version"] == 1


def test_seed_example_is_sma_10_30_on_btc_usdt_1m():
    body = seed()
    assert (body["symbol"], body["timeframe"]) == ("BTC/USDT", "1m")
    assert [(i["type"], i["period"]) for i in body["indicators"]] == [("sma", 10), ("sma", 30)]


def test_examples_returns_fresh_copies():
    first = examples()
    first["sma_crossover"]["symbol"] = "ETH/BTC"
    assert examples()["sma_crossover"]["symbol"] == "BTC/USDT"


def test_broken_body_reports_every_schema_and_semantic_error_at_once():
    body = seed()
    del body["symbol"]
    body["timeframe"] = "2m"
    body["colour"] = "red"
    body["indicators"][1]["period"] = 0
    body["indicators"].append(
        {"name": "fast", "type": "macd", "fast": 26, "slow": 12, "signal": 9, "sorce": "close"}
    )
    body["entry"] = {
        "all": [
            {"crosses_above": [{"ind": "fast"}, {"ind": "fats"}]},
            {"gt": [1, 2]},
            {"lt": [{"price": "close"}, {"price": "close"}]},
            {"gt": [{"ind": "slow", "output": "upper"}, {}]},
        ]
    }
    body["exit"] = {}
    body["sizing"] = {"type": "percent_equity", "value": 150}

    errors = validate_body(body)

    assert pointers(errors) == [
        ("/colour", "unknown-field"),
        ("/entry/all/0/crosses_above/1/ind", "unknown-indicator"),
        ("/entry/all/1/gt", "constant-comparison"),
        ("/entry/all/2/lt/1", "same-operands"),
        ("/entry/all/3/gt/0/output", "unknown-output"),
        ("/entry/all/3/gt/1", "invalid-value"),
        ("/exit", "invalid-fields"),
        ("/indicators/1/period", "out-of-range"),
        ("/indicators/2/fast", "macd-periods"),
        ("/indicators/2/name", "duplicate-indicator"),
        ("/indicators/2/sorce", "unknown-field"),
        ("/sizing/value", "out-of-range"),
        ("/symbol", "required"),
        ("/timeframe", "invalid-choice"),
    ]
    assert all(e.detail for e in errors)
    assert errors == validate_body(body)  # deterministic order


def test_required_errors_point_at_each_missing_field():
    errors = validate_body({"dsl_version": 1, "indicators": [{"name": "x"}]})
    assert pointers(errors) == [
        ("/entry", "required"),
        ("/exit", "required"),
        ("/indicators/0/type", "required"),
        ("/sizing", "required"),
        ("/symbol", "required"),
        ("/timeframe", "required"),
    ]
    assert errors[0].detail == "This field is required."


def test_indicator_missing_its_parameter_is_reported_by_type():
    body = seed()
    body["indicators"][0] = {"name": "fast", "type": "bbands", "period": 20}
    body["entry"] = {"gt": [{"ind": "fast", "output": "upper"}, {"ind": "slow"}]}
    body["exit"] = {"stop_loss_pct": 2}
    assert pointers(validate_body(body)) == [("/indicators/0/stddev", "required")]


def test_unknown_field_names_the_allowed_ones():
    body = seed()
    body["entry"] = {"crosses_abvoe": [{"ind": "fast"}, {"ind": "slow"}]}
    (error,) = [e for e in validate_body(body) if e.code == "unknown-field"]
    assert error.pointer == "/entry/crosses_abvoe"
    assert "crosses_above" in error.detail


def test_pointer_tokens_are_escaped():
    body = seed()
    body["a/b~c"] = 1
    assert pointers(validate_body(body)) == [("/a~1b~0c", "unknown-field")]


def test_semantic_checks_skip_structurally_broken_parts():
    body = seed()
    # The operand is malformed (two kinds at once): only the schema error, no guess at "ind".
    body["entry"] = {"gt": [{"ind": "nope", "price": "close"}, 5]}
    assert pointers(validate_body(body)) == [("/entry/gt/0", "invalid-fields")]


def test_names_with_schema_errors_still_resolve_references():
    body = seed()
    body["indicators"][0]["period"] = "ten"  # broken indicator, valid name
    assert pointers(validate_body(body)) == [("/indicators/0/period", "invalid-type")]


def test_multi_output_indicator_needs_an_output():
    body = seed()
    body["indicators"].append({"name": "bb", "type": "bbands", "period": 20, "stddev": 2})
    body["entry"] = {"gt": [{"price": "close"}, {"ind": "bb"}]}
    errors = validate_body(body)
    assert pointers(errors) == [("/entry/gt/1", "missing-output")]
    assert "upper, middle, lower" in errors[0].detail


def test_output_of_another_indicator_kind_is_unknown():
    body = seed()
    body["indicators"].append(
        {"name": "m", "type": "macd", "fast": 12, "slow": 26, "signal": 9, "source": "close"}
    )
    body["entry"] = {"gt": [{"ind": "m", "output": "upper"}, 0]}
    assert pointers(validate_body(body)) == [("/entry/gt/0/output", "unknown-output")]


def test_macd_fast_equal_to_slow_is_rejected():
    body = seed()
    body["indicators"].append({"name": "m", "type": "macd", "fast": 26, "slow": 26, "signal": 9})
    assert pointers(validate_body(body)) == [("/indicators/2/fast", "macd-periods")]


def test_indicator_sources_must_resolve_and_not_loop():
    body = seed()
    body["indicators"] = [
        {"name": "a", "type": "sma", "period": 3, "source": {"ind": "b"}},
        {"name": "b", "type": "ema", "period": 3, "source": {"ind": "a"}},
        {"name": "c", "type": "sma", "period": 2, "source": {"ind": "c"}},
        {"name": "d", "type": "sma", "period": 2, "source": {"ind": "zz"}},
        {"name": "fast", "type": "sma", "period": 10, "source": {"ind": "a"}},
        {"name": "slow", "type": "sma", "period": 30, "source": "close"},
    ]
    errors = validate_body(body)
    assert pointers(errors) == [
        ("/indicators/0/source", "indicator-cycle"),
        ("/indicators/1/source", "indicator-cycle"),
        ("/indicators/2/source", "indicator-cycle"),
        ("/indicators/3/source/ind", "unknown-indicator"),
    ]
    assert "a → b → a" in errors[0].detail


def test_non_finite_numbers_are_rejected():
    body = seed()
    body["entry"] = {"gt": [{"ind": "fast"}, float("nan")]}
    body["exit"]["take_profit_pct"] = float("nan")  # NaN passes every schema bound
    body["exit"]["stop_loss_pct"] = float("inf")  # fails the schema's bound: reported once
    assert pointers(validate_body(body)) == [
        ("/entry/gt/1", "not-finite"),
        ("/exit/stop_loss_pct", "out-of-range"),
        ("/exit/take_profit_pct", "not-finite"),
    ]


def test_condition_depth_is_bounded():
    body = seed()
    node: dict = {"gt": [{"ind": "fast"}, {"ind": "slow"}]}
    for _ in range(8):
        node = {"not": node}
    body["entry"] = node
    errors = validate_body(body)
    assert pointers(errors) == [("/entry" + "/not" * 8, "too-deep")]


def test_condition_needs_exactly_one_operator():
    body = seed()
    body["entry"] = {
        "gt": [{"ind": "fast"}, {"ind": "slow"}],
        "lt": [{"ind": "fast"}, 5],
    }
    body["exit"] = {"signal": {}}
    assert pointers(validate_body(body)) == [
        ("/entry", "invalid-fields"),
        ("/exit/signal", "invalid-fields"),
    ]


def test_errors_sort_naturally_by_pointer():
    body = seed()
    body["indicators"] = [
        {"name": f"i{i}", "type": "sma", "period": 5 if i not in (2, 10) else -1} for i in range(11)
    ]
    body["entry"] = {"gt": [{"ind": "i0"}, {"ind": "i1"}]}
    body["exit"] = {"stop_loss_pct": 1}
    assert [e.pointer for e in validate_body(body)] == [
        "/indicators/2/period",
        "/indicators/10/period",
    ]


def test_body_that_is_not_an_object():
    assert pointers(validate_body(["x"])) == [("", "invalid-type")]


def test_side_other_than_long_is_rejected_and_may_be_omitted():
    body = seed()
    body["side"] = "short"
    assert pointers(validate_body(body)) == [("/side", "invalid-choice")]
    del body["side"]
    assert validate_body(body) == []


def test_validation_does_not_change_the_body():
    body = seed()
    before = copy.deepcopy(body)
    validate_body(body)
    assert body == before


def test_field_error_is_a_frozen_value():
    error = FieldError("/a", "detail", "code")
    assert error == FieldError("/a", "detail", "code")
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.pointer = "/b"  # type: ignore[misc]
