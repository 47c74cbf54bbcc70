import pytest

from tests.conftest import assert_problem, make_user
from workspaces.models import AuditEvent, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def test_list_shows_only_my_workspaces_with_my_role(owner_api, workspace, other_workspace):
    body = owner_api.get("/api/v1/workspaces").json()
    assert [(w["id"], w["role"]) for w in body["results"]] == [(str(workspace.pk), "owner")]


def test_foreign_workspace_is_404_in_the_path(owner_api, other_workspace):
    assert_problem(owner_api.get(f"/api/v1/workspaces/{other_workspace.pk}"), 404)
    assert_problem(owner_api.get(f"/api/v1/workspaces/{other_workspace.pk}/members"), 404)


def test_create_workspace_makes_the_caller_owner(viewer_api):
    created = viewer_api.post("/api/v1/workspaces", {"name": "Research"}, format="json")
    assert created.status_code == 201
    assert created.json()["role"] == "owner"
    assert Membership.objects.get(workspace_id=created.json()["id"]).role == Role.OWNER


def test_create_workspace_requires_a_name(owner_api):
    body = assert_problem(owner_api.post("/api/v1/workspaces", {}, format="json"), 400)
    assert body["errors"][0]["pointer"] == "/name"


def test_rename_needs_admin(workspace, viewer_api, admin_api):
    url = f"/api/v1/workspaces/{workspace.pk}"
    assert_problem(viewer_api.patch(url, {"name": "X"}, format="json"), 403, "role-required")
    renamed = admin_api.patch(url, {"name": "Beta desk"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Beta desk"
    assert AuditEvent.objects.filter(action="workspace.update", workspace=workspace).exists()


def test_delete_needs_owner(workspace, admin_api, owner_api):
    url = f"/api/v1/workspaces/{workspace.pk}"
    assert_problem(admin_api.delete(url), 403)
    assert owner_api.delete(url).status_code == 204
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_members_list_add_change_remove(workspace, admin_api, viewer_api):
    url = f"/api/v1/workspaces/{workspace.pk}/members"
    assert len(viewer_api.get(url).json()) == 4
    newcomer = make_user("nadia")
    assert_problem(viewer_api.post(url, {"username": "nadia", "role": "trader"}), 403)
    added = admin_api.post(url, {"username": "nadia", "role": "trader"}, format="json")
    assert added.status_code == 201
    assert added.json()["role"] == "trader"
    assert_problem(admin_api.post(url, {"username": "nadia", "role": "viewer"}), 409)

    changed = admin_api.patch(f"{url}/{newcomer.pk}", {"role": "viewer"}, format="json")
    assert changed.json()["role"] == "viewer"
    assert admin_api.delete(f"{url}/{newcomer.pk}").status_code == 204
    assert not Membership.objects.filter(user=newcomer).exists()
    actions = set(AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True))
    assert {"member.add", "member.role_change", "member.remove"} <= actions


def test_add_member_validates_username_and_role(workspace, admin_api):
    url = f"/api/v1/workspaces/{workspace.pk}/members"
    body = assert_problem(admin_api.post(url, {"username": "nobody", "role": "trader"}), 400)
    assert body["errors"][0]["pointer"] == "/username"
    body = assert_problem(admin_api.post(url, {"username": "olga", "role": "boss"}), 400)
    assert body["errors"][0]["pointer"] == "/role"


def test_admin_cannot_make_owners_and_the_last_owner_stays(workspace, admin_api, owner_api):
    url = f"/api/v1/workspaces/{workspace.pk}/members"
    make_user("nadia")
    assert_problem(admin_api.post(url, {"username": "nadia", "role": "owner"}), 403)
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER).user
    assert_problem(owner_api.patch(f"{url}/{owner.pk}", {"role": "admin"}), 409, "last-owner")
    assert_problem(owner_api.delete(f"{url}/{owner.pk}"), 409, "last-owner")
    assert Membership.objects.get(user=owner).role == Role.OWNER
