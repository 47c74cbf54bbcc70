"""The exchange connections API (SPEC §5): roles, scoping, validation, audit, no secrets out."""

import pytest

from exchanges.models import ExchangeConnection
from tests.conftest import assert_problem
from tests.exchanges.stub_exchange import STUB_API_KEY, STUB_SECRET
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/exchange-connections"
FIELDS = {
    "id",
    "name",
    "exchange",
    "mode",
    "api_key_hint",
    "has_credentials",
    "status",
    "last_checked_at",
    "last_error",
    "last_latency_ms",
    "created_at",
    "updated_at",
}


def binance_payload(**overrides) -> dict:
    return {
        "name": "Binance testnet",
        "exchange": "binance",
        "mode": "testnet",
        "api_key": STUB_API_KEY,
        "api_secret": STUB_SECRET,
        **overrides,
    }


# --------------------------------------------------------------------------- create


def test_admin_creates_a_connection_and_gets_no_secret_back(admin_api, workspace):
    response = admin_api.post(URL, binance_payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["api_key_hint"] == "0001"
    assert body["has_credentials"] is True
    assert (body["exchange"], body["mode"], body["status"]) == ("binance", "testnet", "untested")
    assert body["last_checked_at"] is None
    assert STUB_SECRET not in response.content.decode()
    assert STUB_API_KEY not in response.content.decode()
    stored = ExchangeConnection.objects.get(pk=body["id"])
    assert stored.workspace == workspace
    assert stored.encrypted_secret
    assert stored.secret_key_id
    event = AuditEvent.objects.get(action="connection.create", target_id=body["id"])
    assert event.workspace == workspace
    assert event.details["credentials"] == ["api_key", "api_secret"]
    assert STUB_SECRET not in str(event.details)


def test_owner_creates_a_demo_connection(owner_api):
    response = owner_api.post(
        URL, {"name": "Paper", "exchange": "demo", "mode": "demo"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["exchange"], body["has_credentials"], body["api_key_hint"]) == ("demo", False, "")


@pytest.mark.parametrize(
    ("payload", "pointers"),
    [
        ({"exchange": "demo", "mode": "demo"}, ["/name"]),
        ({"name": "X", "exchange": "demo", "mode": "paper"}, ["/mode"]),
        ({"name": "X", "exchange": "nosuchexchange", "mode": "testnet"}, ["/exchange"]),
        ({"name": "X", "exchange": "demo", "mode": "testnet"}, ["/mode"]),
        ({"name": "X", "exchange": "binance", "mode": "demo"}, ["/mode"]),
        (
            {"name": "X", "exchange": "demo", "mode": "demo", "api_key": "abcdefabcdef"},
            ["/api_key"],
        ),
        (binance_payload(api_secret=""), ["/api_secret"]),
        (
            {"name": "X", "exchange": "okx", "mode": "testnet", "api_key": "k" * 16},
            ["/api_secret", "/passphrase"],
        ),
    ],
)
def test_bad_input_is_400_with_pointers_and_creates_nothing(admin_api, payload, pointers):
    body = assert_problem(admin_api.post(URL, payload, format="json"), 400, "validation-error")
    assert [error["pointer"] for error in body["errors"]] == pointers
    assert not ExchangeConnection.objects.exists()


def test_a_ccxt_connection_without_credentials_is_allowed_for_market_data(admin_api):
    response = admin_api.post(URL, binance_payload(api_key="", api_secret=""), format="json")
    assert response.status_code == 201
    assert response.json()["has_credentials"] is False


def test_duplicate_name_is_400_on_name(admin_api):
    admin_api.post(URL, {"name": "Paper", "exchange": "demo", "mode": "demo"}, format="json")
    body = assert_problem(
        admin_api.post(URL, {"name": "Paper", "exchange": "demo", "mode": "demo"}, format="json"),
        400,
    )
    assert body["errors"][0]["pointer"] == "/name"


def test_live_mode_is_refused_with_422(admin_api):
    body = assert_problem(
        admin_api.post(URL, binance_payload(mode="live"), format="json"),
        422,
        "live-trading-not-approved",
    )
    assert STUB_SECRET not in str(body)
    assert not ExchangeConnection.objects.exists()


def test_testnet_of_an_exchange_without_sandbox_is_not_supported(admin_api):
    assert_problem(
        admin_api.post(URL, binance_payload(exchange="kraken"), format="json"),
        422,
        "exchange-not-supported",
    )


def test_traders_and_viewers_cannot_create(trader_api, viewer_api):
    for client in (trader_api, viewer_api):
        payload = {"name": "X", "exchange": "demo", "mode": "demo"}
        assert_problem(client.post(URL, payload, format="json"), 403, "role-required")
    assert not ExchangeConnection.objects.exists()


# --------------------------------------------------------------------------- read


def test_everyone_in_the_workspace_reads_only_its_connections(
    viewer_api, demo_connection, other_connection
):
    listed = viewer_api.get(URL).json()
    assert [c["id"] for c in listed["results"]] == [str(demo_connection.pk)]
    detail = viewer_api.get(f"{URL}/{demo_connection.pk}")
    assert detail.status_code == 200
    assert set(detail.json()) == FIELDS


def test_another_workspaces_connection_is_404_everywhere(admin_api, other_connection):
    url = f"{URL}/{other_connection.pk}"
    assert_problem(admin_api.get(url), 404)
    assert_problem(admin_api.patch(url, {"name": "Mine"}, format="json"), 404)
    assert_problem(admin_api.delete(url), 404)
    assert_problem(admin_api.post(f"{url}/test"), 404)
    assert_problem(admin_api.get(f"{URL}/not-a-uuid"), 404)
    other_connection.refresh_from_db()
    assert other_connection.name == "Theirs"
    assert other_connection.status == "untested"


def test_a_non_member_gets_403(outsider_api, demo_connection):
    url = f"{URL}/{demo_connection.pk}"
    assert_problem(outsider_api.get(URL), 403, "not-a-workspace-member")
    assert_problem(outsider_api.get(url), 403, "not-a-workspace-member")
    assert_problem(
        outsider_api.post(URL, {"name": "X", "exchange": "demo", "mode": "demo"}, format="json"),
        403,
    )
    assert_problem(outsider_api.post(f"{url}/test"), 403)
    assert_problem(outsider_api.delete(url), 403)
    assert ExchangeConnection.objects.filter(pk=demo_connection.pk).exists()


# --------------------------------------------------------------------------- change and delete


def test_rename_and_a_new_secret_reset_the_status(admin_api, binance_connection):
    ExchangeConnection.objects.filter(pk=binance_connection.pk).update(status="ok")
    url = f"{URL}/{binance_connection.pk}"

    renamed = admin_api.patch(url, {"name": "Main testnet"}, format="json")
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["status"]) == ("Main testnet", "ok")

    rekeyed = admin_api.patch(
        url, {"api_key": "new-binance-key-9876", "api_secret": "new-secret"}, format="json"
    )
    assert rekeyed.status_code == 200
    assert (rekeyed.json()["api_key_hint"], rekeyed.json()["status"]) == ("9876", "untested")
    assert "new-secret" not in rekeyed.content.decode()
    actions = list(
        AuditEvent.objects.filter(action="connection.update").values_list("details", flat=True)
    )
    assert {"name": {"from": "Binance testnet", "to": "Main testnet"}} in actions
    assert {"credentials": ["api_key", "api_secret"]} in actions


def test_patch_refuses_a_new_exchange_a_blank_required_secret_and_live(
    admin_api, binance_connection
):
    url = f"{URL}/{binance_connection.pk}"
    body = assert_problem(admin_api.patch(url, {"exchange": "okx"}, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/exchange"
    # Credentials are replaced as a set: a new key alone lacks its secret.
    body = assert_problem(admin_api.patch(url, {"api_key": "k" * 20}, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/api_secret"
    assert_problem(
        admin_api.patch(url, {"mode": "live"}, format="json"), 422, "live-trading-not-approved"
    )
    body = assert_problem(admin_api.patch(url, {"name": ""}, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/name"
    binance_connection.refresh_from_db()
    assert (binance_connection.mode, binance_connection.api_key_hint) == ("testnet", "0001")


def test_traders_and_viewers_cannot_change_or_delete(trader_api, viewer_api, demo_connection):
    url = f"{URL}/{demo_connection.pk}"
    for client in (trader_api, viewer_api):
        assert_problem(client.patch(url, {"name": "Mine"}, format="json"), 403, "role-required")
        assert_problem(client.delete(url), 403, "role-required")
    demo_connection.refresh_from_db()
    assert demo_connection.name == "Demo"


def test_admin_deletes_a_connection_with_its_demo_account(admin_api, demo_connection, venue):
    venue.create_order("BTC/USDT", "market", "buy", "0.001")

    assert admin_api.delete(f"{URL}/{demo_connection.pk}").status_code == 204

    assert not ExchangeConnection.objects.filter(pk=demo_connection.pk).exists()
    assert AuditEvent.objects.filter(
        action="connection.delete", target_id=str(demo_connection.pk)
    ).exists()


# --------------------------------------------------------------------------- test


def test_testing_the_demo_connection_is_ok_and_stored(trader_api, demo_connection):
    response = trader_api.post(f"{URL}/{demo_connection.pk}/test")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ok", "latency_ms", "checked_at", "message"}
    assert body["ok"] is True
    assert body["latency_ms"] >= 0
    assert "5 markets" in body["message"]
    demo_connection.refresh_from_db()
    assert demo_connection.status == "ok"
    assert demo_connection.last_checked_at is not None
    assert demo_connection.last_latency_ms == body["latency_ms"]
    assert demo_connection.last_error == ""
    event = AuditEvent.objects.get(action="connection.test")
    assert event.details == {"ok": True, "latency_ms": body["latency_ms"], "code": ""}


def test_viewers_cannot_run_a_test(viewer_api, demo_connection):
    assert_problem(viewer_api.post(f"{URL}/{demo_connection.pk}/test"), 403, "role-required")
    demo_connection.refresh_from_db()
    assert demo_connection.status == "untested"
