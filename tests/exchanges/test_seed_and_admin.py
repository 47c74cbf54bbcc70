"""The demo seed's connection, and the operator console's views of connections and demo books."""

import pytest

from exchanges.demo.venue import DemoGateway
from exchanges.models import DemoOrder, ExchangeConnection
from exchanges.seed import seed_demo
from tests.conftest import make_user
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_one_demo_connection_and_is_idempotent(workspace):
    owner = workspace.created_by
    first = seed_demo(workspace=workspace, user=owner)
    again = seed_demo(workspace=workspace, user=owner)

    connection = ExchangeConnection.objects.get(name="Demo exchange")
    assert (connection.exchange, connection.mode, connection.workspace) == (
        "demo",
        "demo",
        workspace,
    )
    assert "created connection 'Demo exchange'" in first[0]
    assert again == ["connection 'Demo exchange' already there"]
    assert ExchangeConnection.objects.count() == 1
    assert AuditEvent.objects.filter(action="connection.create").count() == 1
    assert DemoGateway(connection).fetch_balance()["free"] == {"USDT": 10000}


@pytest.fixture
def operator(client):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_admin_lists_connections_read_only_and_tests_them_through_the_service(
    operator, demo_connection
):
    listing = operator.get("/admin/exchanges/exchangeconnection/?status__exact=untested")
    assert listing.status_code == 200
    assert "Demo" in listing.content.decode()
    page = operator.get(f"/admin/exchanges/exchangeconnection/{demo_connection.pk}/change/")
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # nothing editable, no secret field
    assert "encrypted_secret" not in page.content.decode()
    assert operator.get("/admin/exchanges/exchangeconnection/add/").status_code == 403

    response = operator.post(
        "/admin/exchanges/exchangeconnection/",
        {"action": "test_connections", "_selected_action": [str(demo_connection.pk)]},
        follow=True,
    )
    assert "The demo exchange is ready" in response.content.decode()
    demo_connection.refresh_from_db()
    assert demo_connection.status == "ok"
    assert AuditEvent.objects.filter(action="connection.test").exists()


def test_admin_delete_goes_through_the_service(operator, demo_connection):
    url = f"/admin/exchanges/exchangeconnection/{demo_connection.pk}/delete/"
    assert operator.post(url, {"post": "yes"}).status_code == 302
    assert not ExchangeConnection.objects.exists()
    assert AuditEvent.objects.filter(action="connection.delete").exists()


def test_demo_books_are_read_only_in_the_admin(operator, venue):
    order = venue.create_order("BTC/USDT", "market", "buy", "0.001")
    for model in ("demobalance", "demoorder", "demofill"):
        assert operator.get(f"/admin/exchanges/{model}/").status_code == 200
        assert operator.get(f"/admin/exchanges/{model}/add/").status_code == 403
    page = operator.get(f"/admin/exchanges/demoorder/{order['id']}/change/")
    assert page.status_code == 200
    assert "BTC/USDT" in page.content.decode()
    response = operator.post(f"/admin/exchanges/demoorder/{order['id']}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert DemoOrder.objects.count() == 1
