"""After creating a connection, no secret and no encryption key is anywhere in plaintext:
not in the API response, the admin pages, any log line (even at DEBUG), or the database row."""

import io
import logging

import pytest
from django.conf import settings
from django.db import connection as db

from exchanges.models import ExchangeConnection
from tests.conftest import make_user
from tests.exchanges.stub_exchange import STUB_API_KEY, STUB_SECRET

pytestmark = pytest.mark.django_db

URL = "/api/v1/exchange-connections"
PASSPHRASE = "okx-passphrase-4242"


def forbidden() -> list[str]:
    return [STUB_API_KEY, STUB_SECRET, PASSPHRASE, settings.SECRET_ENCRYPTION_KEY]


def assert_clean(text: str, where: str) -> None:
    for value in forbidden():
        assert value not in text, f"{where} contains a secret"


@pytest.fixture
def log_lines():
    """Every line the configured console handler writes (its formatter and redaction filters)."""
    console = next(h for h in logging.getLogger().handlers if h.filters)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def superuser_client(client):
    user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_secrets_stay_out_of_responses_admin_logs_and_the_database(
    admin_api, stub_routed, superuser_client, log_lines, caplog
):
    caplog.set_level(logging.DEBUG)  # the most talkative the logs can be

    created = admin_api.post(
        URL,
        {
            "name": "Binance testnet",
            "exchange": "binance",
            "mode": "testnet",
            "api_key": STUB_API_KEY,
            "api_secret": STUB_SECRET,
            "passphrase": PASSPHRASE,
        },
        format="json",
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    listed = admin_api.get(URL)
    tested = admin_api.post(f"{URL}/{pk}/test")  # decrypts, signs, calls the stub
    assert tested.status_code == 200, tested.content
    stub_routed.mode = "auth_failed"
    failed = admin_api.post(f"{URL}/{pk}/test")
    assert failed.status_code == 400
    rekeyed = admin_api.patch(
        f"{URL}/{pk}",
        {"api_key": STUB_API_KEY, "api_secret": STUB_SECRET, "passphrase": PASSPHRASE},
        format="json",
    )
    assert rekeyed.status_code == 200
    bad = admin_api.post(URL, {"name": "", "api_key": STUB_API_KEY, "exchange": "demo"})
    assert bad.status_code == 400

    # API responses
    for response in (created, listed, tested, failed, rekeyed, bad):
        assert_clean(response.content.decode(), "an API response")
    assert stub_routed.requests[-1].headers["x-mbx-apikey"] == STUB_API_KEY  # it was used

    # Admin: changelist, change page, search results
    stored = ExchangeConnection.objects.get(pk=pk)
    pages = [
        superuser_client.get("/admin/exchanges/exchangeconnection/"),
        superuser_client.get(f"/admin/exchanges/exchangeconnection/{pk}/change/"),
        superuser_client.get("/admin/exchanges/exchangeconnection/?q=Binance"),
        superuser_client.get("/admin/workspaces/auditevent/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert_clean(html, "an admin page")
        assert stored.encrypted_secret not in html
    change_page = pages[1].content.decode()
    assert stored.api_key_hint == "0001"
    assert "0001" in change_page

    # Every log line the handlers wrote, and every record the loggers made
    lines = log_lines.getvalue()
    assert "connection.created" in lines
    assert "exchange.call_failed" in lines
    assert_clean(lines, "a log line")
    for record in caplog.records:
        assert_clean(record.getMessage(), f"a log record of {record.name}")
        assert_clean(str(record.__dict__), f"a log record's fields ({record.name})")

    # The database row, read with plain SQL
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM exchanges_exchangeconnection")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert_clean(" ".join(str(value) for value in rows[0]), "the database row")
    assert stored.encrypted_secret in [str(value) for value in rows[0]]
