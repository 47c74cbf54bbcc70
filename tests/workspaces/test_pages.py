"""Web pages are scoped by `workspaces.pages.workspace_page`, every one of them."""

import pytest
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path

from lab import selectors as lab_selectors
from tests.conftest import PASSWORD, _member, make_user
from tests.factories import BacktestFactory, StrategyFactory
from workspaces.models import Membership, Role
from workspaces.pages import workspace_page
from workspaces.ui import SESSION_KEY

pytestmark = pytest.mark.django_db

# Pages of the signed-out or workspace-less user, or of the switch itself: not workspace pages.
ACCOUNT_PAGES = {"ui-home", "ui-login", "ui-register", "ui-logout", "ui-switch-workspace"}


@workspace_page
def _echo(request, *, workspace):
    return HttpResponse(f"{workspace.pk} {request.membership.role}")


@workspace_page(role=Role.ADMIN)
def _admins_only(request, *, workspace):
    return HttpResponse("ok")


urlpatterns = [
    path("echo", _echo),
    path("admins", _admins_only),
    path("", include("accounts.urls")),
]


def _ui_patterns(patterns=None):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _ui_patterns(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and (pattern.name or "").startswith("ui-"):
            yield pattern


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_every_ui_page_but_the_account_pages_is_a_workspace_page():
    pages = {pattern.name: pattern.callback for pattern in _ui_patterns()}
    assert {"ui-lab", "ui-strategy", "ui-terminal", "ui-connections"} <= set(pages)
    unscoped = sorted(
        name
        for name, view in pages.items()
        if name not in ACCOUNT_PAGES and not hasattr(view, "workspace_page_role")
    )
    assert unscoped == [], f"decorate these views with workspaces.pages.workspace_page: {unscoped}"


@pytest.mark.urls("tests.workspaces.test_pages")
def test_signed_out_goes_to_the_login_page(client):
    response = client.get("/echo")
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/echo")


@pytest.mark.urls("tests.workspaces.test_pages")
def test_without_a_workspace_the_home_page_says_so(client, db):
    response = login(client, make_user("loner")).get("/echo")
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.urls("tests.workspaces.test_pages")
def test_the_chosen_workspace_is_used_and_rechecked(client, workspace, other_workspace):
    trader = _member(workspace, Role.TRADER)
    Membership.objects.create(workspace=other_workspace, user=trader, role=Role.VIEWER)
    login(client, trader)
    session = client.session
    session[SESSION_KEY] = str(other_workspace.pk)
    session.save()
    assert client.get("/echo").content.decode() == f"{other_workspace.pk} viewer"
    # Removed from the chosen workspace: the page acts in one the user still belongs to.
    Membership.objects.filter(workspace=other_workspace, user=trader).delete()
    assert client.get("/echo").content.decode() == f"{workspace.pk} trader"


@pytest.mark.urls("tests.workspaces.test_pages")
def test_a_role_below_the_pages_is_403(client, workspace):
    assert login(client, _member(workspace, Role.TRADER)).get("/admins").status_code == 403
    client.logout()
    assert login(client, _member(workspace, Role.ADMIN)).get("/admins").status_code == 200


def test_another_workspaces_objects_are_404_on_their_pages(client, workspace, other_workspace):
    login(client, _member(workspace, Role.VIEWER))
    theirs = BacktestFactory(workspace=other_workspace)
    assert client.get(f"/lab/backtests/{theirs.pk}").status_code == 404
    mine = BacktestFactory(workspace=workspace)
    assert lab_selectors.backtests(workspace=workspace).filter(pk=mine.pk).exists()
    assert client.get(f"/lab/backtests/{mine.pk}").status_code == 200
    assert (
        client.get(f"/strategies/{StrategyFactory(workspace=other_workspace).pk}").status_code
        == 404
    )
    assert client.get(f"/strategies/{StrategyFactory(workspace=workspace).pk}").status_code == 200
