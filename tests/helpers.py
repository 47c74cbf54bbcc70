"""Small test utilities shared by every area's tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tests.factories import PASSWORD

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    Polls what a worker, a beat or another process changes. After `timeout` seconds it raises
    AssertionError with `message` (a text, or a function giving it, so it can say what was seen)
    and the predicate's last answer. The predicate runs at least once and once more at the
    deadline, so a slow machine never fails a condition that holds by then.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (after {timeout} s; last answer: {result!r})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def log_in(page, live_server, username: str, password: str = PASSWORD) -> None:
    """Sign `username` in through the login form of the browser `page`; wait for the home page."""
    page.goto(f"{live_server.url}/login")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
