"""The connections page in a real browser (Debian chromium through Playwright)."""

import pytest

from exchanges.models import ExchangeConnection
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-secret-value-31337"


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_admin_creates_tests_and_deletes_a_connection(live_server, page, workspace):
    log_in(page, live_server, "adam")
    page.goto(f"{live_server.url}/connections")
    page.wait_for_selector("#connections-state .empty")
    assert page.is_hidden("#cn-credentials")  # the demo exchange needs no credentials

    # A field error from the problem's pointer, under the field it names
    page.click("#connection-submit")
    page.wait_for_selector("#connection-form .field.has-error #cn-name")
    assert page.inner_text("#connection-form .field-error").strip()

    page.fill("#cn-name", "Paper")
    page.click("#connection-submit")
    page.wait_for_selector("#connections-table tr[data-id]")
    assert page.is_visible("#connection-created")
    row = page.locator("#connections-table tbody tr", has_text="Paper")
    assert row.locator(".badge").get_attribute("class") == "badge open"  # untested

    # A testnet connection: secrets go in, and the page forgets them once saved
    page.fill("#cn-name", "Binance testnet")
    page.fill("#cn-exchange", "binance")
    page.dispatch_event("#cn-exchange", "input")
    assert page.input_value("#cn-mode") == "testnet"
    page.fill("#cn-api-key", "browser-key-00004321")
    page.fill("#cn-api-secret", SECRET)
    page.click("#connection-submit")
    page.wait_for_selector("#connections-table tbody tr:nth-child(2)")
    assert page.input_value("#cn-api-secret") == ""
    assert SECRET not in page.content()
    binance = page.locator("#connections-table tbody tr", has_text="Binance testnet")
    assert binance.locator(".key-hint").inner_text() == "…4321"

    # Test the demo connection: result with latency, badge ok
    row.locator(".test-button").click()
    result = page.locator("#connections-table tbody tr", has_text="Paper").locator(
        ".test-result .alert.ok"
    )
    result.wait_for()
    assert " мс · " in result.inner_text()
    assert "5 markets" in result.inner_text()
    paper = page.locator("#connections-table tbody tr", has_text="Paper")
    assert paper.locator(".badge").get_attribute("class") == "badge ok"
    assert ExchangeConnection.objects.get(name="Paper").status == "ok"

    # Delete, after confirming
    page.once("dialog", lambda dialog: dialog.accept())
    paper.locator(".delete-button").click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('#connections-table tbody tr')]"
        ".some(tr => tr.textContent.includes('Paper'))"
    )
    assert list(ExchangeConnection.objects.values_list("name", flat=True)) == ["Binance testnet"]


def test_a_viewer_sees_the_list_without_buttons(live_server, page, workspace):
    ExchangeConnection.objects.create(
        workspace=workspace, name="Paper", exchange="demo", mode="demo"
    )
    log_in(page, live_server, "victor")
    page.goto(f"{live_server.url}/connections")
    page.wait_for_selector("#connections-table tr[data-id]")
    assert page.locator("#connection-form").count() == 0
    assert page.locator(".test-button").count() == 0
    assert page.locator(".delete-button").count() == 0
    assert "Подключения к биржам" in page.inner_text("h1")
