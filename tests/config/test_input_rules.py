"""Bad input is a 4xx problem+json, never a 500: depth, size, NUL and lone surrogates."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from config.parsers import MAX_JSON_DEPTH
from strategies.dsl import examples, validate_body
from strategies.dsl.validation import MAX_BODY_DEPTH
from strategies.models import Strategy
from tests.conftest import PASSWORD, assert_problem

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
STRATEGIES = "/api/v1/strategies"


def post_raw(client, url: str, text: str, content_type: str = "application/json"):
    return client.post(url, data=text.encode("utf-8", "surrogatepass"), content_type=content_type)


def nested_lists(levels: int) -> str:
    return "[" * levels + "]" * levels


def nested_conditions(levels: int) -> dict:
    condition = {"gt": [{"price": "close"}, {"ind": "fast"}]}
    for _ in range(levels - 1):
        condition = {"all": [condition]}
    return condition


# --- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1000, 100_000])
def test_json_nested_far_too_deep_is_400_on_login(client, levels):
    body = assert_problem(post_raw(client, LOGIN, nested_lists(levels)), 400, "too-deep")
    assert str(MAX_JSON_DEPTH) in body["detail"]


def test_json_nested_too_deep_is_400_with_a_pointer_on_any_json_endpoint(trader_api):
    payload = {"name": "deep", "body": json.loads(nested_lists(MAX_JSON_DEPTH))}
    body = assert_problem(post_raw(trader_api, STRATEGIES, json.dumps(payload)), 400, "too-deep")
    assert body["errors"][0]["pointer"] == "/body" + "/0" * (MAX_JSON_DEPTH - 1)
    assert not Strategy.objects.exists()


def test_json_at_the_depth_limit_reaches_the_view(client):
    # MAX_JSON_DEPTH levels in all (the outer object is one): the view answers, not the parser.
    payload = f'{{"username": {nested_lists(MAX_JSON_DEPTH - 1)}, "password": "x"}}'
    body = assert_problem(post_raw(client, LOGIN, payload), 400, "validation-error")
    assert body["errors"][0]["pointer"] == "/username"


def test_strategy_conditions_400_deep_are_too_deep_before_the_schema():
    body = {**examples()["sma_crossover"], "entry": nested_conditions(400)}
    [error] = validate_body(body)  # the schema's recursion would have raised RecursionError
    assert error.code == "too-deep"
    # the first container MAX_BODY_DEPTH levels down: an "all" list
    assert error.pointer == "/entry" + "/all/0" * ((MAX_BODY_DEPTH - 2) // 2) + "/all"


def test_validate_endpoint_reports_too_deep_conditions_with_a_pointer(trader_api):
    # Deeper than the DSL's bound, shallower than the parser's: the DSL's own check answers.
    body = {**examples()["sma_crossover"], "entry": nested_conditions(20)}
    response = trader_api.post(f"{STRATEGIES}/validate", {"body": body}, format="json")
    problem = assert_problem(response, 400, "validation-error")
    [error] = problem["errors"]
    assert error["code"] == "too-deep"
    assert error["pointer"].startswith("/body/entry/all/0/all/0")


def test_conditions_within_the_dsl_depth_still_get_the_semantic_error():
    body = {**examples()["sma_crossover"], "entry": nested_conditions(9)}
    assert [(e.code, e.pointer.count("/all/0")) for e in validate_body(body)] == [("too-deep", 8)]


# --- size --------------------------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413(client, settings):
    text = json.dumps({"username": "x" * 3 * 1024 * 1024, "password": "y"})
    body = assert_problem(post_raw(client, LOGIN, text), 413, "payload-too-large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]


@pytest.mark.parametrize("format_", ["form", "multipart"])
def test_a_form_body_over_the_limit_is_413(client, format_):
    fields = {"username": "x" * 3 * 1024 * 1024, "password": "y"}
    if format_ == "form":
        from urllib.parse import urlencode

        response = client.post(
            LOGIN, urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(LOGIN, fields)  # the test client sends multipart
    assert_problem(response, 413, "payload-too-large")


def test_a_body_within_the_limit_is_parsed(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    ok = post_raw(client, LOGIN, json.dumps({"username": "olga", "password": "x" * 9000}))
    assert_problem(ok, 400, "validation-error")  # parsed, then refused by the serializer
    too_big = post_raw(client, LOGIN, json.dumps({"username": "olga", "password": "x" * 10_000}))
    assert_problem(too_big, 413, "payload-too-large")


# --- NUL and lone surrogates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("escape", "word"), [("\\u0000", "NUL"), ("\\ud800", "surrogate"), ("\\udfff", "surrogate")]
)
def test_a_bad_character_in_a_nested_string_is_400_with_its_pointer(trader_api, escape, word):
    body = examples()["sma_crossover"]
    body["description"] = "before" + "\x01" + "after"
    text = json.dumps({"name": "ok", "body": body}).replace("\\u0001", escape)
    problem = assert_problem(post_raw(trader_api, STRATEGIES, text), 400, "invalid-characters")
    assert problem["errors"] == [{"pointer": "/body/description", "detail": problem["detail"]}]
    assert word in problem["detail"]
    assert not Strategy.objects.exists()


def test_a_bad_character_in_a_field_name_points_at_it_renderably(client):
    text = '{"user\\u0000name": "olga", "pass\\ud83dword": "x", "ok": ["fine", "b\\u0000d"]}'
    problem = assert_problem(post_raw(client, LOGIN, text), 400, "invalid-characters")
    assert [e["pointer"] for e in problem["errors"]] == [
        "/ok/1",
        "/pass\ufffdword",
        "/user\ufffdname",
    ]


def test_valid_unicode_is_accepted(client):
    text = json.dumps({"username": "olga 😀 ω", "password": PASSWORD})  # escaped pairs: valid
    response = post_raw(client, LOGIN, text)
    assert_problem(response, 401, "invalid-credentials")  # parsed: no such user


@pytest.mark.parametrize("format_", ["form", "multipart"])
def test_a_nul_in_a_form_field_is_400_with_its_pointer(client, format_):
    fields = {"username": "ol\x00ga", "password": "x"}
    if format_ == "form":
        from urllib.parse import urlencode

        response = client.post(
            LOGIN, urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(LOGIN, fields)
    problem = assert_problem(response, 400, "invalid-characters")
    assert [e["pointer"] for e in problem["errors"]] == ["/username"]


@pytest.mark.parametrize(
    ("url", "api"),
    [
        (f"{STRATEGIES}?search=%00", "trader_api"),
        ("/api/v1/audit?action=%00", "admin_api"),
        ("/api/v1/audit?action=login&since=%00", "admin_api"),
        ("/api/v1/auth/me?x%00=1", "trader_api"),
    ],
)
def test_a_nul_in_a_query_parameter_is_400(request, url, api):
    client: APIClient = request.getfixturevalue(api)
    problem = assert_problem(client.get(url), 400, "invalid-characters")
    name = url.split("?")[1].split("&")[-1].split("=")[0].replace("%00", "\ufffd")
    assert [e["pointer"] for e in problem["errors"]] == [f"/{name}"]


def test_query_parameters_with_ordinary_text_pass(trader_api):
    assert trader_api.get(f"{STRATEGIES}?search=sma%20cross").status_code == 200


def test_views_with_their_own_parser_list_keep_the_rules(trader_api):
    # The lab's dataset endpoint names its parsers (JSON, multipart, form) itself.
    text = '{"source": "demo", "name": "bad\\u0000name", "symbol": "BTC/USDT", "timeframe": "1m"}'
    problem = assert_problem(
        post_raw(trader_api, "/api/v1/lab/datasets", text), 400, "invalid-characters"
    )
    assert [e["pointer"] for e in problem["errors"]] == ["/name"]


@pytest.mark.parametrize(
    "moment",
    [
        "2026-02-30T00:00:00Z",  # well formed, no such day
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    ],
)
def test_query_date_times_outside_what_the_database_takes_are_400(admin_api, moment):
    response = admin_api.get("/api/v1/audit", {"since": moment})
    problem = assert_problem(response, 400, "validation-error")
    assert [e["pointer"] for e in problem["errors"]] == ["/since"]


def test_an_offset_postgresql_cannot_store_is_compared_in_utc(admin_api):
    # Found by schemathesis: -22:03 is valid ISO 8601, beyond PostgreSQL's ±15:59 (was a 500).
    response = admin_api.get("/api/v1/audit", {"since": "0201-02-06T18:28:51-22:03"})
    assert response.status_code == 200, response.content
