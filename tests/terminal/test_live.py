"""Order changes are pushed to the workspace's group once committed, never before or on rollback.

Real transactions (the announce runs on commit) and the real Redis channel layer.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.db import transaction

from terminal import services
from terminal.live import ORDER_CHANGED, orders_group
from terminal.models import Order
from tests.terminal.conftest import place
from tests.terminal.test_orders_api import resting_buy_price

pytestmark = pytest.mark.django_db(transaction=True)

SENTINEL = "test.sentinel"


class Listener:
    """A channel in a workspace's orders group, read on an event loop of its own.

    One loop and one layer instance for the listener's whole life: the channel layer finishes a
    receive in a background task of the loop that received (async_to_sync's loops end at once).
    The code under test sends through the process's own layer, as in production.
    """

    def __init__(self, group: str):
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.group = group
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(group, self.channel))

    def _run(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def next(self) -> dict:
        """The next message the group sent (waits for it)."""
        return self._run(self.layer.receive(self.channel))

    def nothing_yet(self) -> bool:
        """Whether nothing was sent to the group before now (a sentinel comes back first)."""
        self._run(self.layer.group_send(self.group, {"type": SENTINEL}))
        return self.next()["type"] == SENTINEL

    def close(self) -> None:
        self._run(self.layer.group_discard(self.group, self.channel))
        self._run(self.layer.close_pools())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def listener(workspace):
    listening = Listener(orders_group(workspace.pk))
    yield listening
    listening.close()


@pytest.fixture
def resting(trader_api, connection) -> Order:
    price = resting_buy_price("BTC/USDT")
    response = place(trader_api, connection, type="limit", price=str(price))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def test_placing_announces_the_order_as_the_api_shows_it(trader_api, connection, listener):
    response = place(trader_api, connection)
    assert response.status_code == 201

    message = listener.next()

    assert message["type"] == ORDER_CHANGED
    assert (
        message["order"]
        == trader_api.get(f"/api/v1/terminal/orders/{response.json()['id']}").json()
    )
    assert message["order"]["status"] == "closed"
    assert listener.nothing_yet()  # one change, one push


def test_a_transition_is_announced_only_after_its_commit(resting, listener):
    with transaction.atomic():
        services.transition(resting, Order.Status.CANCELED)
        assert listener.nothing_yet()  # inside the transaction: not yet

    message = listener.next()
    assert message["type"] == ORDER_CHANGED
    assert message["order"]["id"] == str(resting.pk)
    assert message["order"]["status"] == "canceled"


def cancel_in_work_that_fails(order: Order) -> None:
    with transaction.atomic():
        services.transition(order, Order.Status.CANCELED)
        raise RuntimeError("the surrounding work failed")


def test_a_rolled_back_transition_is_never_announced(resting, listener):
    with pytest.raises(RuntimeError):
        cancel_in_work_that_fails(resting)

    assert listener.nothing_yet()
    assert Order.objects.get(pk=resting.pk).status == "open"


def test_a_transition_that_changes_nothing_announces_nothing(resting, listener):
    services.transition(resting, Order.Status.OPEN)
    assert listener.nothing_yet()


def test_a_channel_layer_that_is_down_costs_a_warning_not_the_change(
    resting, listener, monkeypatch, caplog
):
    class DownLayer:
        async def group_send(self, group, message):
            raise ConnectionError("Redis is down")

    monkeypatch.setattr("config.live.get_channel_layer", DownLayer)

    with caplog.at_level(logging.WARNING, logger="config.live"):
        order = services.transition(resting, Order.Status.CANCELED)

    assert order.status == "canceled"
    assert Order.objects.get(pk=resting.pk).status == "canceled"
    [record] = [r for r in caplog.records if r.message == "live.announce_failed"]
    assert record.group == orders_group(resting.workspace_id)
    assert record.error == "ConnectionError"
