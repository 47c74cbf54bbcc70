"""Shared fixtures: two workspaces, a client per role, a real Celery worker, a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PASSWORD as PASSWORD  # tests sign in with it, imported from here
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tests.helpers import wait_until
from workspaces.models import Membership, Role, Workspace

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Browser tests run last, in their collected order.

    Playwright's sync API keeps an event loop running in the main thread for the rest of the
    session once the browser has started; code that bridges to async (`async_to_sync`, as the
    live pushes do) refuses to run beside it. Running the browser tests after everything else
    keeps that loop away from every other test.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session", autouse=True)
def _media_in_a_temporary_folder(tmp_path_factory):
    """Files the tests store (datasets, results) go to a throwaway folder, never var/media."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Every test starts with empty rate-limit counters (they live in the Redis cache)."""
    client = cache._cache.get_client(None, write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def make_user(username: str, **extra) -> User:
    """A user `username` with e-mail `<username>@example.com` and the password PASSWORD."""
    return UserFactory(username=username, **extra)


def token_client(user: User, workspace: Workspace | None = None) -> APIClient:
    """An API client authenticated with a real (hashed, expiring) token."""
    client = APIClient()
    _, token = AuthToken.objects.create(user=user)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if workspace is not None:
        headers["HTTP_X_WORKSPACE_ID"] = str(workspace.pk)
    client.credentials(**headers)
    return client


@pytest.fixture
def workspace(db) -> Workspace:
    """Workspace A: olga owns it; adam is its admin, tanya a trader, victor a viewer."""
    ws = WorkspaceFactory(name="Alpha desk", created_by__username="olga")
    for username, role in (("adam", Role.ADMIN), ("tanya", Role.TRADER), ("victor", Role.VIEWER)):
        MembershipFactory(workspace=ws, user=make_user(username), role=role)
    return ws


@pytest.fixture
def other_workspace(db) -> Workspace:
    """Workspace B, owned by oscar alone."""
    return WorkspaceFactory(name="Other desk", created_by__username="oscar")


def _member(ws: Workspace, role: str) -> User:
    return Membership.objects.select_related("user").get(workspace=ws, role=role).user


@pytest.fixture
def owner_api(workspace) -> APIClient:
    return token_client(_member(workspace, Role.OWNER), workspace)


@pytest.fixture
def admin_api(workspace) -> APIClient:
    return token_client(_member(workspace, Role.ADMIN), workspace)


@pytest.fixture
def trader_api(workspace) -> APIClient:
    return token_client(_member(workspace, Role.TRADER), workspace)


@pytest.fixture
def viewer_api(workspace) -> APIClient:
    return token_client(_member(workspace, Role.VIEWER), workspace)


@pytest.fixture
def outsider_api(workspace, other_workspace) -> APIClient:
    """The other workspace's owner, sending workspace A's id (not a member of it)."""
    return token_client(_member(other_workspace, Role.OWNER), workspace)


@pytest.fixture
def other_api(other_workspace) -> APIClient:
    """The other workspace's owner, acting in their own workspace."""
    return token_client(_member(other_workspace, Role.OWNER), other_workspace)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """Assert a problem+json response with `status` (and `code`); return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["request_id"]
    if code is not None:
        assert body["code"] == code, body
    return body


# --- a real Celery worker ----------------------------------------------------------------------


def _worker_database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def worker_environment() -> dict[str, str]:
    """The environment of a test worker: the test database, Redis, keys and media folder."""
    return {
        **os.environ,
        "DATABASE_URL": _worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_ENCRYPTION_KEY": settings.SECRET_ENCRYPTION_KEY,
        "SECRET_KEY": settings.SECRET_KEY,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "BOTMARKET_TEST_WORKER": "1",
    }


def start_worker(
    queue: str, *, node: str, log_path: Path, concurrency: int = 1, purge: bool = True
):
    """Start `celery -A config worker` on `queue` as the deployments do (one worker per queue).

    `purge` drops what an earlier run left in the queue. The worker runs in a session of its
    own, so a test can kill it with all its pool processes.
    """
    log = open(log_path, "w")
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--loglevel=INFO",
            *(["--purge"] if purge else []),
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"{node}@%h",
        ],
        cwd=ROOT,
        env=worker_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log = log
    return process


def wait_for_workers(processes: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    """Block until every worker of `processes` (node name → process) answers a ping."""
    from config.celery import app

    waiting = set(processes)

    def all_answered() -> bool:
        for node, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"celery worker {node} exited; see {process.log.name}")
        for reply in app.control.ping(timeout=0.5) or []:  # the ping itself waits half a second
            waiting.difference_update(name.split("@")[0] for name in reply)
        return not waiting

    try:
        wait_until(
            all_answered,
            timeout=timeout,
            interval=0,
            message=lambda: f"celery workers {sorted(waiting)} did not answer a ping",
        )
    except AssertionError:
        for process in processes.values():
            process.kill()
        raise


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    process.log.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery -A config worker` per queue on the test database, as deployed.

    Yields {queue: process}. Tests using it must commit their data (`transactional_db`) so the
    workers can see it.
    """
    from config.celery import WORKER_QUEUES

    processes = {
        f"{queue}-test-{os.getpid()}": start_worker(
            queue,
            node=f"{queue}-test-{os.getpid()}",
            log_path=Path(settings.VAR_DIR) / f"test-worker-{queue}.log",
        )
        for queue in WORKER_QUEUES
    }
    wait_for_workers(processes)
    yield dict(zip(WORKER_QUEUES, processes.values(), strict=True))
    for process in processes.values():
        process.terminate()  # all at once: each warm shutdown takes a few seconds
    for process in processes.values():
        stop_worker(process)


# --- a real browser ----------------------------------------------------------------------------


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Debian's chromium is missing (apt-get install -y chromium).")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's async-safety guard
    # would otherwise refuse ORM calls the tests make between browser steps.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
