"""The terminal in a real browser: live ticker and chart, a market order, a rejected one, cancel."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import DemoOrder, ExchangeConnection
from terminal.models import Order
from tests.conftest import _member
from tests.helpers import log_in
from workspaces.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def demo_connection(workspace):
    return ExchangeConnection.objects.create(
        workspace=workspace, name="Demo account", exchange="demo", mode="demo"
    )


def test_place_a_market_order_and_see_it_in_the_history(
    live_server, page, workspace, trader, demo_connection
):
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/terminal")

    # The pickers load the demo instruments; the ticker and the chart come alive.
    page.locator('#symbol-select option[value="BTC/USDT"]').wait_for(state="attached")
    assert page.input_value("#connection-select") == str(demo_connection.pk)
    assert page.input_value("#symbol-select") == "BTC/USDT"
    page.wait_for_function("document.querySelector('#ticker-last').textContent !== '—'")
    first_last = Decimal(page.inner_text("#ticker-last"))
    assert first_last > 0
    page.locator("#chart canvas").first.wait_for()
    page.locator("#history-state .empty").wait_for()
    page.locator('#balances-table tr[data-asset="USDT"]').wait_for()

    # An invalid amount: the problem's pointer puts the message under the amount field.
    page.fill("#order-amount", "0.000015")
    page.click("#order-submit")
    page.locator("#order-amount ~ .field-error").wait_for()
    assert "0.00001" in page.inner_text("#order-amount ~ .field-error")
    assert Order.objects.count() == 0

    # A double click on a valid order places it once.
    page.fill("#order-amount", "0.001")
    page.dblclick("#order-submit")
    row = page.locator('#history-table tbody tr[data-status="closed"]')
    row.wait_for()
    assert page.locator("#history-table tbody tr").count() == 1
    order = Order.objects.get(workspace=workspace)
    assert order.status == "closed"
    assert order.created_by == trader
    assert DemoOrder.objects.filter(connection=demo_connection).count() == 1
    assert row.get_attribute("data-id") == str(order.pk)
    assert "BTC/USDT" in row.inner_text()
    assert page.locator("#order-result").is_visible()

    # The position and the BTC balance show up.
    page.locator('#positions-table tr[data-symbol="BTC/USDT"]').wait_for()
    page.locator('#balances-table tr[data-asset="BTC"]').wait_for()
    assert page.inner_text('#balances-table tr[data-asset="BTC"] td:nth-child(2)') == "0.001"

    # Switching the timeframe redraws the chart without errors.
    page.click('[data-timeframe="5m"]')
    assert page.get_attribute('[data-timeframe="5m"]', "aria-pressed") == "true"
    page.locator("#chart-state .error").wait_for(state="detached")


def test_a_limit_order_rests_in_open_orders_and_is_canceled(
    live_server, page, workspace, trader, demo_connection
):
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/terminal")
    page.wait_for_function("document.querySelector('#ticker-last').textContent !== '—'")
    last = Decimal(page.inner_text("#ticker-last"))

    page.select_option("#order-type", "limit")
    assert page.locator("#price-field").is_visible()
    page.fill("#order-price", str((last * Decimal("0.9")).quantize(Decimal("0.01"))))
    page.fill("#order-amount", "0.001")
    page.click("#order-submit")
    row = page.locator('#open-orders-table tbody tr[data-status="open"]')
    row.wait_for()

    row.get_by_role("button").click()
    page.locator("#open-orders-state .empty").wait_for()
    assert Order.objects.get(workspace=workspace).status == "canceled"
    page.locator('#history-table tbody tr[data-status="canceled"]').wait_for()


def test_a_viewer_watches_without_an_order_form(live_server, page, workspace, demo_connection):
    log_in(page, live_server, _member(workspace, Role.VIEWER).username)
    page.goto(f"{live_server.url}/terminal")
    page.wait_for_function("document.querySelector('#ticker-last').textContent !== '—'")
    assert page.locator("#order-form").count() == 0
    page.locator("#open-orders-state .empty").wait_for()
