"""The research lab in a real browser: make a dataset, run a backtest, read its report."""

from __future__ import annotations

import pytest

from lab.models import Backtest, Dataset
from tests.conftest import _member
from tests.helpers import log_in
from tests.lab.conftest import make_version, sma_body
from workspaces.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.mark.worker
def test_run_a_backtest_from_the_lab_page_and_read_the_report(
    live_server, page, celery_worker_process, workspace, trader
):
    version = make_version(workspace, sma_body())
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/lab")
    page.locator("#datasets-state .empty").wait_for()

    # A dataset from the demo feed, through the form.
    page.fill("#ds-name", "One day of BTC")
    page.fill("#ds-start", "2026-11-01T00:00")
    page.fill("#ds-end", "2026-11-02T00:00")
    page.click("#dataset-submit")
    page.locator("#datasets-table tbody tr", has_text="One day of BTC").wait_for()
    dataset = Dataset.objects.get(workspace=workspace, name="One day of BTC")
    assert dataset.rows == 1440

    # The backtest form: the new dataset is offered once it is ready.
    page.locator(f'#bt-dataset option[value="{dataset.pk}"]').wait_for(state="attached")
    page.select_option("#bt-version", str(version.pk))
    page.select_option("#bt-dataset", str(dataset.pk))
    page.fill("#bt-fee", "10")
    page.click("#backtest-submit")
    row = page.locator('#backtests-table tbody tr[data-status="succeeded"]')
    row.wait_for(timeout=60_000)
    backtest = Backtest.objects.get(workspace=workspace)
    assert backtest.status == Backtest.Status.SUCCEEDED

    row.get_by_role("link").click()
    page.wait_for_url(f"{live_server.url}/lab/backtests/{backtest.pk}")
    page.wait_for_function(
        "document.querySelector('[data-metric=trades] .value').textContent !== '—'"
    )
    assert page.inner_text("[data-metric=trades] .value") == str(backtest.metrics["trades"])
    assert page.inner_text("[data-metric=net_pnl] .value") != "—"
    assert page.inner_text("#inputs-hash") == backtest.inputs_sha256
    page.locator("#equity-chart canvas").first.wait_for()
    page.locator("#drawdown-chart canvas").first.wait_for()
    page.locator("#trades-table tbody tr").first.wait_for()
    assert page.locator("#trades-table tbody tr").count() == min(50, backtest.metrics["trades"])
    assert "succeeded" in page.get_attribute("#report-status", "class")

    # Rerun opens the new backtest's report, which the worker finishes with the same hash.
    page.click("#rerun-button")
    page.wait_for_function(
        f"window.location.pathname.startsWith('/lab/backtests/') && "
        f"!window.location.pathname.endsWith('{backtest.pk}')"
    )
    page.wait_for_function(
        "document.querySelector('#report-status').className.includes('succeeded')", timeout=60_000
    )
    assert page.inner_text("#inputs-hash") == backtest.inputs_sha256


def test_csv_errors_show_under_the_file_field(live_server, page, workspace):
    log_in(page, live_server, _member(workspace, Role.TRADER).username)
    page.goto(f"{live_server.url}/lab")
    page.check('#dataset-form input[name="source"][value="csv"]')
    assert page.locator("#ds-start").is_hidden()
    page.fill("#ds-name", "Broken")
    page.set_input_files(
        "#ds-file",
        files=[
            {
                "name": "broken.csv",
                "mimeType": "text/csv",
                "buffer": b"ts,open,high,low,close,volume\n"
                b"1767225600000,100,101,99,100,1\n"
                b"1767225660000,100,98,99,100,1\n",
            }
        ],
    )
    page.click("#dataset-submit")
    error = page.locator("#ds-file ~ .field-error")
    error.wait_for()
    assert error.inner_text() == "line 3: high is below low"
    assert not Dataset.objects.exists()


@pytest.mark.worker
def test_import_from_a_connection_shows_the_dataset_when_ready(
    live_server, page, celery_worker_process, workspace, trader
):
    from exchanges.models import ExchangeConnection

    connection = ExchangeConnection.objects.create(
        workspace=workspace, name="Demo account", exchange="demo"
    )
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/lab")
    page.check('#dataset-form input[name="source"][value="exchange"]')
    assert page.locator("#ds-file").is_hidden()
    page.select_option("#ds-connection", str(connection.pk))
    page.fill("#ds-name", "From the demo exchange")
    page.fill("#ds-start", "2026-11-01T00:00")
    page.fill("#ds-end", "2026-11-01T12:00")
    page.click("#dataset-submit")
    row = page.locator("#datasets-table tbody tr", has_text="From the demo exchange")
    row.locator(".badge.ready").wait_for(timeout=60_000)
    assert "720" in row.inner_text()
    assert Dataset.objects.get(name="From the demo exchange").connection == connection
