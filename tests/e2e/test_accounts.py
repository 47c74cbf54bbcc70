"""The sign-up and sign-in pages in a real browser (Debian chromium through Playwright)."""

import pytest

from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_register_lands_on_home_with_a_personal_workspace(live_server, page):
    page.goto(f"{live_server.url}/register")
    page.fill("#id_username", "marina")
    page.fill("#id_email", "marina@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("#register-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "marina's workspace" in page.inner_text("#workspace-select")
    assert page.inner_text("#workspace-id").strip()


def test_login_errors_then_succeeds_and_logs_out(live_server, page):
    make_user("kirill")
    page.goto(f"{live_server.url}/login")
    page.fill("#id_username", "kirill")
    page.fill("#id_password", "wrong-password")
    page.click("#login-form button[type=submit]")
    assert page.locator(".alert.error").is_visible()

    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("#logout-button")
    page.wait_for_url(f"{live_server.url}/login")


def test_russian_by_default_and_english_on_switch(live_server, page):
    page.goto(f"{live_server.url}/login")
    assert page.inner_text("h1") == "Войти"
    page.click("#language-switcher button[value=en]")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Sign in"
