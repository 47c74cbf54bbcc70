import json

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


@pytest.mark.parametrize("body", [[], "owner", None, 7, ["role", "owner"]])
def test_a_body_that_is_not_an_object_is_400_everywhere(workspace, owner_api, body):
    """Regression: `PATCH …/members/{user}` with `[]` or `"owner"` was a 500."""
    victor = Membership.objects.get(workspace=workspace, role=Role.VIEWER).user
    url = f"/api/v1/workspaces/{workspace.pk}"
    for method, path in (
        ("PATCH", f"{url}/members/{victor.pk}"),
        ("POST", f"{url}/members"),
        ("PATCH", url),
        ("POST", "/api/v1/workspaces"),
    ):
        response = owner_api.generic(method, path, json.dumps(body), "application/json")
        problem = assert_problem(response, 400, "validation-error")
        assert problem["errors"][0]["pointer"] == ""
    assert Membership.objects.get(user=victor).role == Role.VIEWER
    assert Workspace.objects.count() == 1


def test_admin_cannot_remove_or_demote_an_owner_through_the_api(workspace, admin_api):
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER).user
    url = f"/api/v1/workspaces/{workspace.pk}/members/{owner.pk}"
    assert_problem(admin_api.patch(url, {"role": "viewer"}, format="json"), 403, "role-required")
    assert_problem(admin_api.delete(url), 403, "role-required")
    assert Membership.objects.get(user=owner).role == Role.OWNER


def test_unknown_member_is_404(workspace, admin_api, other_workspace):
    stranger = Membership.objects.get(workspace=other_workspace).user
    url = f"/api/v1/workspaces/{workspace.pk}/members/{stranger.pk}"
    assert_problem(admin_api.patch(url, {"role": "viewer"}, format="json"), 404)
    assert_problem(admin_api.delete(url), 404)
