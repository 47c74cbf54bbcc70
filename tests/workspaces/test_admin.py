"""The operator console writes workspaces and memberships through workspaces.services."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry

from tests.conftest import make_user
from tests.factories import MembershipFactory, WorkspaceFactory
from workspaces.models import AuditEvent, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = make_user("ops", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def _workspace_form(workspace, *, changes=None, delete=(), add=()):
    """The POST of the workspace's change page: its members with `changes` ({membership:
    role}), `delete` (memberships) and `add` ((user, role) pairs)."""
    rows = list(Membership.objects.filter(workspace=workspace).order_by("created_at", "id"))
    data = {
        "name": workspace.name,
        "memberships-TOTAL_FORMS": str(len(rows) + len(add)),
        "memberships-INITIAL_FORMS": str(len(rows)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        prefix = f"memberships-{index}"
        data[f"{prefix}-id"] = str(row.pk)
        data[f"{prefix}-workspace"] = str(workspace.pk)
        data[f"{prefix}-user"] = str(row.user_id)
        data[f"{prefix}-role"] = (changes or {}).get(row, row.role)
        if row in delete:
            data[f"{prefix}-DELETE"] = "on"
    for offset, (user, role) in enumerate(add):
        prefix = f"memberships-{len(rows) + offset}"
        data.update({f"{prefix}-workspace": str(workspace.pk), f"{prefix}-user": str(user.pk)})
        data[f"{prefix}-role"] = role
    return data


def _url(workspace) -> str:
    return f"/admin/workspaces/workspace/{workspace.pk}/change/"


def test_members_added_changed_and_removed_on_the_workspace_page_are_audited(
    client, operator, workspace
):
    viewer = Membership.objects.get(workspace=workspace, role=Role.VIEWER)
    trader = Membership.objects.get(workspace=workspace, role=Role.TRADER)
    newcomer = make_user("nadia")
    data = _workspace_form(
        workspace, changes={viewer: Role.ADMIN}, delete=[trader], add=[(newcomer, Role.TRADER)]
    )
    response = client.post(_url(workspace), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(pk=viewer.pk).role == Role.ADMIN
    assert not Membership.objects.filter(pk=trader.pk).exists()
    assert Membership.objects.get(workspace=workspace, user=newcomer).role == Role.TRADER
    events = {e.action: e for e in AuditEvent.objects.filter(actor=operator)}
    assert set(events) == {"member.add", "member.role_change", "member.remove"}
    assert all(e.details["via"] == "admin" and e.workspace == workspace for e in events.values())
    assert events["member.role_change"].details["to"] == Role.ADMIN


def test_the_last_owner_cannot_be_removed_or_demoted_on_the_workspace_page(
    client, operator, workspace
):
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER)
    for data in (
        _workspace_form(workspace, delete=[owner]),
        _workspace_form(workspace, changes={owner: Role.VIEWER}),
    ):
        response = client.post(_url(workspace), data)
        assert response.status_code == 200  # the form again, with the refusal
        assert "Make another member an owner first." in response.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER
    assert not AuditEvent.objects.filter(actor=operator).exists()


def test_two_owners_demoted_at_once_keep_one_and_say_so(client, operator):
    workspace = WorkspaceFactory()
    first = Membership.objects.get(workspace=workspace)
    second = MembershipFactory(workspace=workspace, role=Role.OWNER)
    data = _workspace_form(workspace, changes={first: Role.ADMIN, second: Role.ADMIN})
    response = client.post(_url(workspace), data, follow=True)
    assert "Make another member an owner first." in response.content.decode()
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).count() == 1
    assert AuditEvent.objects.filter(action="member.role_change").count() == 1


def test_rename_and_delete_on_the_workspace_page_are_audited(client, operator, workspace):
    data = {**_workspace_form(workspace), "name": "Renamed desk"}
    assert client.post(_url(workspace), data).status_code == 302
    event = AuditEvent.objects.get(action="workspace.update")
    assert event.details == {"name": {"from": "Alpha desk", "to": "Renamed desk"}, "via": "admin"}
    url = f"/admin/workspaces/workspace/{workspace.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    deleted = AuditEvent.objects.get(action="workspace.delete")
    assert deleted.details["workspace_id"] == str(workspace.pk)
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(workspace.pk)).exists()


def test_workspaces_and_memberships_are_not_added_here(client, operator):
    assert client.get("/admin/workspaces/workspace/add/").status_code == 403
    assert client.get("/admin/workspaces/membership/add/").status_code == 403


def test_membership_page_changes_roles_through_the_service(client, operator, workspace):
    viewer = Membership.objects.get(workspace=workspace, role=Role.VIEWER)
    url = f"/admin/workspaces/membership/{viewer.pk}/change/"
    # Who and where are fixed: the posted user is ignored.
    stranger = make_user("stranger")
    response = client.post(url, {"role": Role.TRADER, "user": str(stranger.pk)})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert (viewer.role, viewer.user.username) == (Role.TRADER, "victor")
    assert AuditEvent.objects.get(action="member.role_change").details["via"] == "admin"

    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER)
    url = f"/admin/workspaces/membership/{owner.pk}/change/"
    response = client.post(url, {"role": Role.VIEWER})
    assert response.status_code == 200
    assert "Make another member an owner first." in response.content.decode()
    assert client.get(f"/admin/workspaces/membership/{owner.pk}/delete/").status_code == 403


def test_bulk_removal_of_the_last_owner_is_refused_before_anything_goes(
    client, operator, workspace
):
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER)
    viewer = Membership.objects.get(workspace=workspace, role=Role.VIEWER)
    data = {"action": "delete_selected", "_selected_action": [owner.pk, viewer.pk], "post": "yes"}
    assert client.post("/admin/workspaces/membership/", data).status_code == 403
    assert Membership.objects.filter(pk__in=[owner.pk, viewer.pk]).count() == 2
    assert not AuditEvent.objects.exists()


def test_bulk_removal_of_both_owners_keeps_one_and_logs_only_what_happened(client, operator):
    workspace = WorkspaceFactory()
    first = Membership.objects.get(workspace=workspace)
    second = MembershipFactory(workspace=workspace, role=Role.OWNER)
    data = {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"}
    response = client.post("/admin/workspaces/membership/", data, follow=True)
    assert "Make another member an owner first." in response.content.decode()
    [kept] = Membership.objects.filter(workspace=workspace)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["member.remove"]
    logged = set(LogEntry.objects.filter(action_flag=DELETION).values_list("object_id", flat=True))
    assert logged == {str(first.pk), str(second.pk)} - {str(kept.pk)}


def test_the_user_page_adds_workspaces_through_the_service(client, operator, workspace):
    nadia = make_user("nadia")
    data = {
        "username": "nadia",
        "email": "nadia@example.com",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-user": str(nadia.pk),
        "memberships-0-workspace": str(workspace.pk),
        "memberships-0-role": Role.TRADER,
    }
    response = client.post(f"/admin/accounts/user/{nadia.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Membership.objects.get(user=nadia, workspace=workspace).role == Role.TRADER
    event = AuditEvent.objects.get(action="member.add")
    assert (event.actor, event.details["via"]) == (operator, "admin")
