"""Lab pages (server side) in Russian and English, and the admin console."""

from __future__ import annotations

import pytest

from lab import services
from tests.conftest import PASSWORD, _member, make_user
from tests.lab.conftest import PARAMS, make_version, sma_body
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_lab_page_for_a_trader_has_both_forms_and_the_versions(client, workspace, trader, version):
    page = login(client, trader).get("/lab")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="backtest-form"' in html
    assert 'id="dataset-form"' in html
    assert f'value="{version.pk}"' in html
    assert "lightweight-charts.standalone.production.js" in html
    assert "Исследовательская лаборатория" in html  # Russian by default


def test_lab_page_for_a_viewer_has_no_forms(client, workspace):
    page = login(client, _member(workspace, Role.VIEWER)).get("/lab")
    html = page.content.decode()
    assert 'id="backtest-form"' not in html
    assert 'id="dataset-form"' not in html
    assert 'data-can-write="0"' in html


def test_lab_page_needs_a_login(client):
    page = client.get("/lab")
    assert page.status_code == 302
    assert page["Location"].startswith("/login")


def test_report_page_of_own_backtest_and_404_for_another_workspaces(
    client, workspace, trader, version, dataset, other_workspace, other_dataset
):
    mine = services.create_backtest(
        workspace=workspace, actor=trader, strategy_version=version, dataset=dataset, **PARAMS
    )
    page = login(client, trader).get(f"/lab/backtests/{mine.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert mine.inputs_sha256 in html
    assert 'id="rerun-button"' in html
    assert 'data-metric="net_pnl"' in html

    owner = _member(other_workspace, Role.OWNER)
    theirs = services.create_backtest(
        workspace=other_workspace,
        actor=owner,
        strategy_version=make_version(other_workspace, sma_body()),
        dataset=other_dataset,
        **PARAMS,
    )
    assert client.get(f"/lab/backtests/{theirs.pk}").status_code == 404


def test_english_after_the_switch(client, trader):
    login(client, trader).post("/i18n/setlang/", {"language": "en", "next": "/lab"})
    html = client.get("/lab").content.decode()
    assert "<h1>Research lab</h1>" in html
    assert "Исследовательская лаборатория" not in html


def test_admin_lists_and_details_load(client, workspace, trader, version, dataset):
    backtest = services.create_backtest(
        workspace=workspace, actor=trader, strategy_version=version, dataset=dataset, **PARAMS
    )
    services.run_backtest(backtest_id=str(backtest.pk))
    staff = make_user("root", is_staff=True, is_superuser=True)
    login(client, staff)
    for url in (
        "/admin/lab/dataset/",
        f"/admin/lab/dataset/{dataset.pk}/change/",
        "/admin/lab/backtest/?status__exact=succeeded",
        f"/admin/lab/backtest/{backtest.pk}/change/",
        "/admin/lab/backtesttrade/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/lab/backtest/add/").status_code == 403
    response = client.post(
        "/admin/lab/backtest/", {"action": "rerun", "_selected_action": [str(backtest.pk)]}
    )
    assert response.status_code == 302
    assert backtest.reruns.count() == 1
