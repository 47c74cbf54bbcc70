"""Idempotent order placement: retries, concurrent duplicates, reused keys, crash recovery."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from exchanges.demo.venue import DemoGateway
from exchanges.exceptions import ExchangeUnreachable
from exchanges.models import DemoOrder
from terminal.models import Order
from terminal.services import derive_client_order_id
from terminal.tasks import refresh_open_orders_task
from tests.conftest import _member, assert_problem, token_client
from tests.terminal.conftest import balance, new_key, order_body, place
from workspaces.models import AuditEvent, Role


@pytest.mark.django_db
def test_same_key_twice_gives_one_order_and_the_same_answer(trader_api, connection):
    key = new_key()
    first = place(trader_api, connection, key)
    usdt_after_first = balance(connection, "USDT")
    second = place(trader_api, connection, key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1
    assert DemoOrder.objects.count() == 1
    assert balance(connection, "USDT") == usdt_after_first
    assert AuditEvent.objects.filter(action="order.place").count() == 1


@pytest.mark.django_db
def test_body_client_order_id_works_like_the_header(trader_api, workspace, connection):
    body = order_body(connection, client_order_id="my-order-1")
    first = trader_api.post("/api/v1/terminal/orders", body, format="json")
    second = trader_api.post("/api/v1/terminal/orders", body, format="json")
    header = place(trader_api, connection, "my-order-1")

    assert first.status_code == second.status_code == header.status_code == 201
    assert first.json()["id"] == second.json()["id"] == header.json()["id"]
    assert first.json()["client_order_id"] == derive_client_order_id(
        workspace_id=workspace.pk, key="my-order-1"
    )
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_header_and_a_different_body_key_is_400(trader_api, connection):
    response = trader_api.post(
        "/api/v1/terminal/orders",
        order_body(connection, client_order_id="one"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="two",
    )
    body = assert_problem(response, 400)
    assert body["errors"][0]["pointer"] == "/client_order_id"


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(trader_api, connection):
    key = new_key()
    assert place(trader_api, connection, key, amount="0.001").status_code == 201
    # The same amount written differently is the same body.
    assert place(trader_api, connection, key, amount="0.0010").status_code == 201

    reused = place(trader_api, connection, key, amount="0.002")

    assert_problem(reused, 422, "idempotency-key-reused")
    assert_problem(place(trader_api, connection, key, side="sell"), 422, "idempotency-key-reused")
    assert Order.objects.count() == 1
    assert DemoOrder.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_to_the_workspace(trader_api, other_api, connection, other_connection):
    first = place(trader_api, connection, "shared-key")
    second = place(other_api, other_connection, "shared-key")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["client_order_id"] != second.json()["client_order_id"]
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_replay_does_not_care_about_hold(trader_api, workspace, connection):
    key = new_key()
    first = place(trader_api, connection, key)
    workspace.on_hold = True
    workspace.save(update_fields=["on_hold"])

    again = place(trader_api, connection, key)

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert_problem(place(trader_api, connection), 423, "workspace-on-hold")


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_place_one_order(workspace, connection):
    """Eight clients send the same key at once: one order; each gets it (201) or 409."""
    trader = _member(workspace, Role.TRADER)
    clients = [token_client(trader, workspace) for _ in range(8)]
    key = new_key()
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def send(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = place(clients[index], connection, key)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(r is not None for r in responses)
    created = [r for r in responses if r.status_code == 201]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(created) + len(conflicts) == len(clients), [r.content for r in responses]
    assert created
    assert {r.json()["id"] for r in created} == {str(Order.objects.get().pk)}
    for response in conflicts:
        assert_problem(response, 409, "idempotency-conflict-in-progress")
        assert response["Retry-After"] == "1"
    assert DemoOrder.objects.count() == 1
    assert Order.objects.get().status == "closed"
    amount = DemoOrder.objects.get().amount
    assert balance(connection, "BTC") == (amount, 0)
    # A retry after the dust settled gets the order too.
    assert place(clients[0], connection, key).json()["id"] == created[0].json()["id"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_buys_of_a_coin_are_all_answered_without_a_5xx(workspace, connection):
    """Defect 6.2 through the API: 24 first market buys of a coin at once, each with its key."""
    trader = _member(workspace, Role.TRADER)
    clients = [token_client(trader, workspace) for _ in range(24)]
    # The account is open (its USDT row exists) and has never held SOL: the probe's case.
    opened = clients[0].get("/api/v1/terminal/balances", {"connection": str(connection.pk)})
    assert opened.json() == [{"asset": "USDT", "free": "10000", "used": "0", "total": "10000"}]
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def send(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = place(clients[index], connection, symbol="SOL/USDT", amount="0.1")
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [r.status_code for r in responses] == [201] * len(clients), [
        r.content for r in responses if r is not None and r.status_code != 201
    ]
    assert Order.objects.filter(status="closed").count() == len(clients)
    assert balance(connection, "SOL") == (Decimal("0.1") * len(clients), 0)


# --------------------------------------------------------------------------- crash and recovery


@pytest.mark.django_db
def test_no_answer_from_the_venue_keeps_the_order_and_a_retry_places_it_once(
    trader_api, connection, monkeypatch
):
    key = new_key()
    real_create = DemoGateway.create_order

    def unreachable(self, *args, **kwargs):
        raise ExchangeUnreachable("The exchange did not answer in time.")

    monkeypatch.setattr(DemoGateway, "create_order", unreachable)
    first = place(trader_api, connection, key)

    assert_problem(first, 503, "exchange-unreachable")
    journal = Order.objects.get()
    assert journal.status == "open"
    assert journal.acknowledged_at is None
    assert journal.submit_lease_until is None  # released: a retry may send it now
    assert DemoOrder.objects.count() == 0

    monkeypatch.setattr(DemoGateway, "create_order", real_create)
    retry = place(trader_api, connection, key)

    assert retry.status_code == 201
    assert retry.json()["id"] == str(journal.pk)
    assert retry.json()["status"] == "closed"
    assert DemoOrder.objects.count() == 1


@pytest.mark.django_db
def test_a_crash_after_the_venue_placed_it_is_adopted_not_placed_again(
    trader_api, connection, monkeypatch
):
    """The venue filled the order, then the process died before recording the answer."""
    key = new_key()

    def crash(*args, **kwargs):
        raise SystemExit("the process died")

    monkeypatch.setattr("terminal.services.placing.acknowledge", crash)
    with pytest.raises(SystemExit):
        place(trader_api, connection, key)
    monkeypatch.undo()
    journal = Order.objects.get()
    assert journal.acknowledged_at is None
    assert DemoOrder.objects.count() == 1
    # Until the dead process's lease runs out, a retry is told the order is in progress.
    assert_problem(place(trader_api, connection, key), 409, "idempotency-conflict-in-progress")
    Order.objects.update(submit_lease_until=timezone.now() - timedelta(seconds=1))

    retry = place(trader_api, connection, key)

    assert retry.status_code == 201
    assert retry.json()["status"] == "closed"
    assert DemoOrder.objects.count() == 1
    journal.refresh_from_db()
    assert journal.exchange_order_id == str(DemoOrder.objects.get().pk)


@pytest.mark.django_db
def test_a_retry_while_the_first_is_being_sent_is_409(trader_api, connection, monkeypatch):
    key = new_key()
    monkeypatch.setattr("terminal.services.placing._submit", lambda order, gateway: order)
    assert place(trader_api, connection, key).status_code == 201  # journaled, never sent
    monkeypatch.undo()

    again = place(trader_api, connection, key)

    assert_problem(again, 409, "idempotency-conflict-in-progress")
    assert again["Retry-After"] == "1"
    assert DemoOrder.objects.count() == 0


@pytest.mark.django_db
def test_an_abandoned_order_is_reconciled_by_the_periodic_refresh(
    trader_api, connection, monkeypatch
):
    """Journaled, then the process died before the venue saw it; nobody retried."""
    key = new_key()
    monkeypatch.setattr("terminal.services.placing._submit", lambda order, gateway: order)
    order_id = place(trader_api, connection, key).json()["id"]
    monkeypatch.undo()
    long_ago = timezone.now() - timedelta(minutes=10)
    Order.objects.filter(pk=order_id).update(created_at=long_ago, submit_lease_until=long_ago)
    # A read leaves it as it is: reads never call the venue.
    assert trader_api.get(f"/api/v1/terminal/orders/{order_id}").json()["status"] == "open"

    assert refresh_open_orders_task() == 1
    detail = trader_api.get(f"/api/v1/terminal/orders/{order_id}")

    assert detail.json()["status"] == "rejected"
    assert Order.objects.get().rejection["code"] == "order-not-placed"
    assert_problem(place(trader_api, connection, key), 409, "order-not-placed")
    assert DemoOrder.objects.count() == 0


@pytest.mark.django_db
def test_a_young_unacknowledged_order_is_left_for_its_retry(trader_api, connection, monkeypatch):
    key = new_key()
    monkeypatch.setattr("terminal.services.placing._submit", lambda order, gateway: order)
    order_id = place(trader_api, connection, key).json()["id"]
    monkeypatch.undo()
    Order.objects.filter(pk=order_id).update(submit_lease_until=None)

    assert refresh_open_orders_task() == 0  # younger than TERMINAL_RECONCILE_AFTER_SECONDS
    assert trader_api.get(f"/api/v1/terminal/orders/{order_id}").json()["status"] == "open"
    retry = place(trader_api, connection, key)
    assert retry.status_code == 201
    assert retry.json()["status"] == "closed"
    assert Decimal(retry.json()["filled"]) == Decimal("0.001")
    assert DemoOrder.objects.count() == 1
