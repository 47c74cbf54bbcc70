"""Strategies API: schema, validation with pointers, strategies, immutable versions, scoping.

Also the strategy web pages (server side), their Russian catalogue and the admin console.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from strategies import services
from strategies.dsl import SCHEMA, examples
from strategies.models import Strategy, StrategyVersion
from tests.conftest import PASSWORD, _member, assert_problem, make_user
from tests.strategies.conftest import canonical_sha256, make_backtest, sma_body
from workspaces.models import AuditEvent, Role

pytestmark = pytest.mark.django_db

API = "/api/v1/strategies"

# Schema and semantic errors in one body; every one must come back, in the DSL's pointer order.
BROKEN_BODY = {
    "dsl_version": 1,
    "timeframe": "2m",
    "indicators": [
        {"name": "fast", "type": "sma", "period": 0},
        {"name": "slow", "type": "sma", "period": 30},
        {"name": "m", "type": "macd", "fast": 26, "slow": 12, "signal": 9},
    ],
    "entry": {
        "all": [
            {"crosses_above": [{"ind": "fast"}, {"ind": "fats"}]},
            {"gt": [{"ind": "slow"}, {"ind": "slow"}]},
            {"gt": [{"ind": "m"}, 0]},
        ]
    },
    "exit": {"stop_loss_pct": 2, "take_profit": 5},
    "sizing": {"type": "percent_equity", "value": 100},
}
BROKEN_ERRORS = [
    ("/body/entry/all/0/crosses_above/1/ind", "unknown-indicator"),
    ("/body/entry/all/1/gt/1", "same-operands"),
    ("/body/entry/all/2/gt/0", "missing-output"),
    ("/body/exit/take_profit", "unknown-field"),
    ("/body/indicators/0/period", "out-of-range"),
    ("/body/indicators/2/fast", "macd-periods"),
    ("/body/symbol", "required"),
    ("/body/timeframe", "invalid-choice"),
]


def error_pairs(problem: dict) -> list[tuple[str, str]]:
    return [(e["pointer"], e.get("code")) for e in problem["errors"]]


# --- schema ------------------------------------------------------------------------------------


def test_schema_is_served_without_a_workspace_header_and_cacheable(workspace):
    client = APIClient()
    client.force_authenticate(_member(workspace, Role.VIEWER))
    response = client.get(f"{API}/schema")
    assert response.status_code == 200
    assert response.json() == SCHEMA
    assert response["Cache-Control"] == "private, max-age=3600"
    etag = response["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = client.get(f"{API}/schema", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert client.get(f"{API}/schema", HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_schema_needs_a_login():
    assert_problem(APIClient().get(f"{API}/schema"), 401)


# --- validate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_example_validates_through_the_api(viewer_api, name):
    response = viewer_api.post(f"{API}/validate", {"body": examples()[name]}, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["valid"] is True
    assert result["dsl_version"] == 1
    assert 0 < result["warmup"] < result["lookback"]


def test_validate_reports_the_documented_warmup(trader_api):
    result = trader_api.post(f"{API}/validate", {"body": sma_body()}, format="json").json()
    assert result["warmup"] == 30  # SMA(30) is defined from index 29; a cross also reads t-1


def test_broken_body_returns_every_error_with_its_pointer(trader_api):
    response = trader_api.post(f"{API}/validate", {"body": BROKEN_BODY}, format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert error_pairs(problem) == BROKEN_ERRORS
    assert problem["detail"] == "The request has 8 errors."
    by_pointer = {e["pointer"]: e["detail"] for e in problem["errors"]}
    assert "'fats'" in by_pointer["/body/entry/all/0/crosses_above/1/ind"]
    assert by_pointer["/body/indicators/0/period"] == "Must be at least 1."


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, [("/body", None)]),
        ({"body": []}, [("/body", "invalid-type")]),
        ({"body": {}}, None),  # every required field, each at its own pointer
        ({"body": sma_body(dsl_version=2)}, [("/body/dsl_version", "invalid-choice")]),
    ],
)
def test_validate_bad_input_points_into_the_request(trader_api, payload, expected):
    problem = assert_problem(trader_api.post(f"{API}/validate", payload, format="json"), 400)
    if expected is None:
        required = ["dsl_version", "entry", "exit", "indicators", "sizing", "symbol", "timeframe"]
        expected = [(f"/body/{name}", "required") for name in required]
    assert error_pairs(problem) == expected


def test_an_oversized_body_is_refused_before_it_is_checked(trader_api, strategy):
    body = sma_body(indicators=[{"name": "x", "type": "sma", "period": 0}] * 2000)
    for url in (f"{API}/validate", f"{API}/{strategy.pk}/versions"):
        problem = assert_problem(trader_api.post(url, {"body": body}, format="json"), 400)
        assert error_pairs(problem) == [("/body", "too-large")]
    problem = assert_problem(trader_api.post(API, {"name": "Big", "body": body}), 400)
    assert error_pairs(problem) == [("/body", "too-large")]
    assert strategy.versions.count() == 1


def test_validate_needs_membership_and_the_header(workspace, outsider_api, viewer_api):
    assert_problem(outsider_api.post(f"{API}/validate", {"body": sma_body()}), 403)
    client = APIClient()
    client.force_authenticate(_member(workspace, Role.TRADER))
    assert_problem(client.post(f"{API}/validate", {"body": sma_body()}, format="json"), 400)
    # A viewer may validate: nothing is stored.
    assert (
        viewer_api.post(f"{API}/validate", {"body": sma_body()}, format="json").status_code == 200
    )


# --- create, list, retrieve ----------------------------------------------------------------------


def test_create_stores_version_1_and_shows_it_as_latest(trader_api, workspace):
    body = {"symbol": "BTC/USDT", "dsl_version": 1, **sma_body()}  # author's key order
    response = trader_api.post(
        API, {"name": "Momentum", "description": "first try", "body": body}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "Momentum"
    assert created["description"] == "first try"
    assert created["versions_count"] == 1
    latest = created["latest_version"]
    assert latest["number"] == 1
    assert latest["body"] == body
    assert list(latest["body"]) == list(body)  # the key order as written
    assert latest["body_sha256"] == canonical_sha256(body)
    assert latest["created_by"] == "tanya"

    strategy = Strategy.objects.get(pk=created["id"])
    assert strategy.workspace == workspace
    assert strategy.versions.get().body == body
    event = AuditEvent.objects.get(action="strategy.create")
    assert event.target_id == str(strategy.pk)
    assert event.details["body_sha256"] == latest["body_sha256"]


def test_create_reports_a_taken_name_and_body_errors_together(trader_api, strategy):
    response = trader_api.post(API, {"name": strategy.name, "body": BROKEN_BODY}, format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert error_pairs(problem) == [("/name", "name-taken"), *BROKEN_ERRORS]
    assert Strategy.objects.count() == 1
    assert (
        not AuditEvent.objects.filter(action="strategy.create")
        .exclude(target_id=str(strategy.pk))
        .exists()
    )


def test_create_needs_name_and_body(trader_api):
    problem = assert_problem(trader_api.post(API, {}, format="json"), 400)
    assert sorted(e["pointer"] for e in problem["errors"]) == ["/body", "/name"]
    assert Strategy.objects.count() == 0


def test_create_is_for_traders_and_members(viewer_api, outsider_api):
    payload = {"name": "Nope", "body": sma_body()}
    assert_problem(viewer_api.post(API, payload, format="json"), 403, "role-required")
    assert_problem(outsider_api.post(API, payload, format="json"), 403, "not-a-workspace-member")
    assert Strategy.objects.count() == 0


def test_list_shows_only_this_workspaces_strategies_with_their_latest_version(
    trader_api, viewer_api, strategy, other_strategy, trader
):
    trader_api.post(f"{API}/{strategy.pk}/versions", {"body": sma_body(timeframe="5m")})
    body = viewer_api.get(API).json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == str(strategy.pk)
    assert item["versions_count"] == 2
    assert item["latest_version"]["number"] == 2
    assert item["latest_version"]["body"]["timeframe"] == "5m"

    assert viewer_api.get(API, {"search": "tren"}).json()["count"] == 1
    assert viewer_api.get(API, {"search": "nothing"}).json()["count"] == 0


def test_list_needs_the_header_and_membership(workspace, outsider_api):
    assert_problem(outsider_api.get(API), 403, "not-a-workspace-member")
    client = APIClient()
    client.force_authenticate(_member(workspace, Role.VIEWER))
    assert_problem(client.get(API), 400, "workspace-header-missing")
    client.credentials(HTTP_X_WORKSPACE_ID="not-a-uuid")
    assert_problem(client.get(API), 400, "workspace-header-invalid")


def test_retrieve_and_another_workspaces_strategy_is_404(viewer_api, strategy, other_strategy):
    got = viewer_api.get(f"{API}/{strategy.pk}")
    assert got.status_code == 200
    assert got.json()["latest_version"]["number"] == 1
    for url in (
        f"{API}/{other_strategy.pk}",
        f"{API}/{other_strategy.pk}/versions",
        f"{API}/{other_strategy.pk}/versions/1",
        f"{API}/00000000-0000-4000-8000-000000000000",
    ):
        assert_problem(viewer_api.get(url), 404)


def test_writes_to_another_workspaces_strategy_are_404_and_change_nothing(
    trader_api, other_strategy
):
    url = f"{API}/{other_strategy.pk}"
    assert_problem(trader_api.patch(url, {"name": "Mine now"}, format="json"), 404)
    assert_problem(trader_api.post(f"{url}/versions", {"body": sma_body(timeframe="1h")}), 404)
    assert_problem(trader_api.delete(url), 404)
    other_strategy.refresh_from_db()
    assert other_strategy.name == "Their trend"
    assert other_strategy.versions.count() == 1


def test_outsider_cannot_read_a_strategy(outsider_api, strategy):
    assert_problem(outsider_api.get(f"{API}/{strategy.pk}"), 403)
    assert_problem(outsider_api.get(f"{API}/{strategy.pk}/versions/1"), 403)


# --- update and delete -------------------------------------------------------------------------


def test_patch_renames_and_describes_but_never_touches_the_body(trader_api, strategy):
    url = f"{API}/{strategy.pk}"
    renamed = trader_api.patch(url, {"name": "Trend v2", "description": "faster"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Trend v2"
    assert renamed.json()["description"] == "faster"
    assert AuditEvent.objects.filter(action="strategy.update", target_id=str(strategy.pk)).exists()

    problem = assert_problem(trader_api.patch(url, {"body": sma_body()}, format="json"), 400)
    assert error_pairs(problem) == [("/body", None)]
    assert strategy.versions.count() == 1


def test_patch_to_a_taken_name_is_400_at_name(trader_api, workspace, trader, strategy):
    trader_api.post(API, {"name": "Other", "body": sma_body()}, format="json")
    problem = assert_problem(
        trader_api.patch(f"{API}/{strategy.pk}", {"name": "Other"}, format="json"), 400
    )
    assert [e["pointer"] for e in problem["errors"]] == ["/name"]
    strategy.refresh_from_db()
    assert strategy.name == "Trend"


def test_viewer_cannot_change_or_delete(viewer_api, strategy):
    url = f"{API}/{strategy.pk}"
    assert_problem(viewer_api.patch(url, {"name": "X"}, format="json"), 403, "role-required")
    assert_problem(viewer_api.delete(url), 403, "role-required")
    assert_problem(viewer_api.post(f"{url}/versions", {"body": sma_body(timeframe="1h")}), 403)
    strategy.refresh_from_db()
    assert strategy.name == "Trend"
    assert strategy.versions.count() == 1


def test_put_on_a_strategy_is_405(trader_api, strategy):
    assert_problem(trader_api.put(f"{API}/{strategy.pk}", {"name": "X"}, format="json"), 405)


def test_delete_removes_the_strategy_and_its_versions(trader_api, strategy):
    assert trader_api.delete(f"{API}/{strategy.pk}").status_code == 204
    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert not StrategyVersion.objects.filter(strategy_id=strategy.pk).exists()
    event = AuditEvent.objects.get(action="strategy.delete")
    assert event.target_id == str(strategy.pk)
    assert event.details == {"name": "Trend", "versions": 1}


def test_delete_is_refused_while_a_backtest_uses_a_version(trader_api, strategy):
    trader_api.post(f"{API}/{strategy.pk}/versions", {"body": sma_body(timeframe="5m")})
    make_backtest(strategy.versions.get(number=1))
    problem = assert_problem(trader_api.delete(f"{API}/{strategy.pk}"), 409, "strategy-in-use")
    assert "1 backtests" in problem["detail"]
    assert strategy.versions.count() == 2
    assert not AuditEvent.objects.filter(action="strategy.delete").exists()


# --- versions ----------------------------------------------------------------------------------


def test_new_version_leaves_version_1_byte_identical(trader_api, strategy):
    v1_url = f"{API}/{strategy.pk}/versions/1"
    before = trader_api.get(v1_url)
    assert before.status_code == 200
    stored = StrategyVersion.objects.get(strategy=strategy, number=1)
    stored_before = (stored.body_text, stored.body_sha256, stored.created_at, stored.body)

    body = sma_body()
    body["indicators"][0]["period"] = 12
    created = trader_api.post(f"{API}/{strategy.pk}/versions", {"body": body}, format="json")
    assert created.status_code == 201, created.content
    v2 = created.json()
    assert v2["number"] == 2
    assert v2["body"] == body
    assert v2["body_sha256"] == canonical_sha256(body)

    after = trader_api.get(v1_url)
    assert after.content == before.content  # byte-identical
    stored.refresh_from_db()
    assert (stored.body_text, stored.body_sha256, stored.created_at, stored.body) == stored_before
    assert after.json()["body_sha256"] == canonical_sha256(sma_body())

    assert trader_api.get(f"{API}/{strategy.pk}").json()["latest_version"]["number"] == 2
    event = AuditEvent.objects.get(action="strategy.version_create")
    assert event.target_id == v2["id"]
    assert event.details["version"] == 2


def test_versions_list_newest_first(viewer_api, trader_api, strategy):
    trader_api.post(f"{API}/{strategy.pk}/versions", {"body": sma_body(timeframe="5m")})
    trader_api.post(f"{API}/{strategy.pk}/versions", {"body": sma_body(timeframe="1h")})
    body = viewer_api.get(f"{API}/{strategy.pk}/versions").json()
    assert body["count"] == 3
    assert [v["number"] for v in body["results"]] == [3, 2, 1]
    assert [v["body"]["timeframe"] for v in body["results"]] == ["1h", "5m", "1m"]
    assert all(v["strategy"] == str(strategy.pk) for v in body["results"])


def test_a_broken_new_version_is_400_with_pointers_and_stores_nothing(trader_api, strategy):
    url = f"{API}/{strategy.pk}/versions"
    problem = assert_problem(trader_api.post(url, {"body": BROKEN_BODY}, format="json"), 400)
    assert error_pairs(problem) == BROKEN_ERRORS
    problem = assert_problem(trader_api.post(url, {}, format="json"), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/body"]
    assert strategy.versions.count() == 1


def test_saving_the_latest_body_again_is_409(trader_api, strategy):
    url = f"{API}/{strategy.pk}/versions"
    reordered = dict(reversed(list(sma_body().items())))  # same canonical JSON
    assert_problem(
        trader_api.post(url, {"body": reordered}, format="json"), 409, "version-unchanged"
    )
    assert strategy.versions.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("client_name", ["owner_api", "trader_api", "viewer_api"])
def test_versions_are_immutable_405(request, strategy, method, client_name):
    client = request.getfixturevalue(client_name)
    url = f"{API}/{strategy.pk}/versions/1"
    before = client.get(url).content
    response = getattr(client, method)(url, {"body": sma_body(timeframe="4h")}, format="json")
    problem = assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response["Allow"]
    assert problem["errors"] == []
    assert client.get(url).content == before
    assert strategy.versions.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_version_list_cannot_be_replaced_or_deleted(trader_api, strategy, method):
    response = getattr(trader_api, method)(f"{API}/{strategy.pk}/versions", {}, format="json")
    assert_problem(response, 405)
    assert strategy.versions.count() == 1


def test_unknown_version_number_is_404(viewer_api, strategy):
    assert_problem(viewer_api.get(f"{API}/{strategy.pk}/versions/2"), 404)
    assert_problem(viewer_api.get(f"{API}/{strategy.pk}/versions/0"), 404)


def test_openapi_documents_every_strategy_operation(owner_api):
    schema = owner_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/strategies/schema": {"get"},
        "/api/v1/strategies/validate": {"post"},
        "/api/v1/strategies": {"get", "post"},
        "/api/v1/strategies/{id}": {"get", "patch", "delete"},
        "/api/v1/strategies/{id}/versions": {"get", "post"},
        "/api/v1/strategies/{id}/versions/{number}": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    validate = paths["/api/v1/strategies/validate"]["post"]
    assert "application/problem+json" in validate["responses"]["400"]["content"]
    delete = paths["/api/v1/strategies/{id}"]["delete"]
    assert "409" in delete["responses"]


# --- web pages ---------------------------------------------------------------------------------


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_list_page_needs_a_login(client):
    response = client.get("/strategies")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_list_page_for_a_trader_offers_a_new_strategy(client, trader):
    html = login(client, trader).get("/strategies").content.decode()
    assert 'id="new-strategy"' in html
    assert 'data-can-write="1"' in html
    assert "Стратегии" in html  # Russian by default


def test_list_page_for_a_viewer_has_no_create(client, workspace):
    html = login(client, _member(workspace, Role.VIEWER)).get("/strategies").content.decode()
    assert 'id="new-strategy"' not in html
    assert 'data-can-write="0"' in html


def test_editor_page_carries_the_latest_body_and_the_examples(client, trader, strategy):
    trader_client = login(client, trader)
    body = sma_body(timeframe="5m")
    trader_client.post(
        f"{API}/{strategy.pk}/versions",
        json.dumps({"body": body}),
        content_type="application/json",
        HTTP_X_WORKSPACE_ID=str(strategy.workspace_id),
    )
    html = trader_client.get(f"/strategies/{strategy.pk}").content.decode()
    assert 'id="save-version-button"' in html
    assert 'data-latest="2"' in html
    latest = re.search(r'<script id="latest-body" type="application/json">(.*?)</script>', html)
    assert json.loads(latest.group(1)) == body
    shipped = re.search(
        r'<script id="strategy-examples" type="application/json">(.*?)</script>', html
    )
    assert {e["name"]: e["body"] for e in json.loads(shipped.group(1))} == examples()


def test_editor_for_a_viewer_validates_but_cannot_save(client, workspace, strategy):
    html = login(client, _member(workspace, Role.VIEWER)).get(f"/strategies/{strategy.pk}")
    html = html.content.decode()
    assert 'id="validate-button"' in html
    assert 'id="save-version-button"' not in html
    assert 'id="strategy-delete"' not in html


def test_new_page_starts_from_the_starter_example(client, trader):
    html = login(client, trader).get("/strategies/new").content.decode()
    assert 'id="create-button"' in html
    assert 'data-starter="sma_crossover"' in html
    assert 'id="latest-body"' not in html


def test_another_workspaces_strategy_page_is_404(client, trader, other_strategy):
    assert login(client, trader).get(f"/strategies/{other_strategy.pk}").status_code == 404


def test_english_after_the_switch(client, trader):
    login(client, trader).post("/i18n/setlang/", {"language": "en", "next": "/strategies"})
    html = client.get("/strategies/new").content.decode()
    assert "Save as new version" not in html  # that button is for existing strategies
    assert "Create strategy" in html
    assert "Создать стратегию" not in html


# --- admin -------------------------------------------------------------------------------------


def test_admin_lists_strategies_and_shows_versions_read_only(client, strategy):
    staff = make_user("root", is_staff=True, is_superuser=True)
    login(client, staff)
    version = strategy.versions.get()
    for url in (
        "/admin/strategies/strategy/",
        f"/admin/strategies/strategy/{strategy.pk}/change/",
        "/admin/strategies/strategyversion/",
        f"/admin/strategies/strategyversion/{version.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/strategies/strategyversion/add/").status_code == 403
    assert client.get("/admin/strategies/strategy/add/").status_code == 403
    response = client.post(f"/admin/strategies/strategyversion/{version.pk}/change/", {"number": 7})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.number == 1


def test_admin_rename_goes_through_the_service(client, strategy):
    login(client, make_user("root", is_staff=True, is_superuser=True))
    response = client.post(
        f"/admin/strategies/strategy/{strategy.pk}/change/",
        {
            "name": "Renamed",
            "description": "",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "0",
            "versions-0-id": str(strategy.versions.get().pk),
            "versions-0-strategy": str(strategy.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    strategy.refresh_from_db()
    assert strategy.name == "Renamed"
    assert AuditEvent.objects.filter(action="strategy.update", target_id=str(strategy.pk)).exists()


def test_listing_costs_the_same_queries_for_one_or_many_strategies(
    trader_api, workspace, trader, django_assert_num_queries
):
    services.create_strategy(workspace=workspace, actor=trader, name="S0", body=sma_body())
    with CaptureQueriesContext(connection) as one:
        assert trader_api.get(API).json()["count"] == 1
    for i in range(1, 6):
        services.create_strategy(workspace=workspace, actor=trader, name=f"S{i}", body=sma_body())
    with django_assert_num_queries(len(one.captured_queries)):
        assert trader_api.get(API).json()["count"] == 6
