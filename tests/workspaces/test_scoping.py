"""The X-Workspace-Id contract, on the audit endpoint and on a writable scoped viewset."""

import pytest
from django.urls import include, path
from rest_framework import mixins, serializers
from rest_framework.routers import SimpleRouter

from tests.conftest import assert_problem, token_client
from workspaces.models import AuditEvent, Membership, Role
from workspaces.scoping import WorkspaceScopedViewSet
from workspaces.services import record_audit

pytestmark = pytest.mark.django_db


class _NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "action"]


class _NotesViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    WorkspaceScopedViewSet,
):
    """A minimal writable workspace-owned collection to exercise the base class's write path."""

    queryset = AuditEvent.objects.all()
    serializer_class = _NoteSerializer

    def perform_create(self, serializer):
        serializer.save(workspace=self.request.workspace, actor=self.request.user)


class _WideningViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Its hook returns every workspace's rows: the base class must still filter them."""

    queryset = AuditEvent.objects.all()
    serializer_class = _NoteSerializer

    def scoped_queryset(self, workspace):
        return AuditEvent.objects.all()


_router = SimpleRouter(trailing_slash=False)
_router.register("notes", _NotesViewSet, basename="note")
_router.register("wide", _WideningViewSet, basename="wide")
urlpatterns = [path("api/v1/", include(_router.urls))]


def test_missing_header_is_400(owner_api):
    owner_api.credentials(HTTP_AUTHORIZATION=owner_api._credentials["HTTP_AUTHORIZATION"])
    assert_problem(owner_api.get("/api/v1/audit"), 400, "workspace-header-missing")


def test_malformed_header_is_400(owner_api):
    owner_api.credentials(
        HTTP_AUTHORIZATION=owner_api._credentials["HTTP_AUTHORIZATION"],
        HTTP_X_WORKSPACE_ID="not-a-uuid",
    )
    assert_problem(owner_api.get("/api/v1/audit"), 400, "workspace-header-invalid")


def test_user_b_with_user_a_workspace_id_is_403(outsider_api):
    assert_problem(outsider_api.get("/api/v1/audit"), 403, "not-a-workspace-member")


def test_unauthenticated_is_401_before_the_header_check(client):
    assert_problem(client.get("/api/v1/audit"), 401)


def test_audit_lists_only_this_workspace_newest_first(workspace, other_workspace, admin_api):
    record_audit(action="first", workspace=workspace)
    record_audit(action="second", workspace=workspace)
    record_audit(action="elsewhere", workspace=other_workspace)
    body = admin_api.get("/api/v1/audit").json()
    assert [e["action"] for e in body["results"]] == ["second", "first"]
    assert admin_api.get("/api/v1/audit?action=first").json()["count"] == 1


def test_audit_filters_validate_dates(admin_api):
    body = assert_problem(admin_api.get("/api/v1/audit?since=yesterday"), 400)
    assert body["errors"][0]["pointer"] == "/since"


def test_another_workspaces_audit_event_is_404(workspace, other_workspace, admin_api):
    foreign = record_audit(action="elsewhere", workspace=other_workspace)
    assert_problem(admin_api.get(f"/api/v1/audit/{foreign.pk}"), 404)
    own = record_audit(action="here", workspace=workspace)
    assert admin_api.get(f"/api/v1/audit/{own.pk}").json()["action"] == "here"


def test_audit_is_for_admins(viewer_api, trader_api):
    assert_problem(viewer_api.get("/api/v1/audit"), 403, "role-required")
    assert_problem(trader_api.get("/api/v1/audit"), 403, "role-required")


@pytest.mark.urls("tests.workspaces.test_scoping")
def test_viewer_cannot_write_but_trader_can(workspace, viewer_api, trader_api):
    assert viewer_api.get("/api/v1/notes").status_code == 200
    assert_problem(viewer_api.post("/api/v1/notes", {"action": "x"}), 403, "role-required")
    created = trader_api.post("/api/v1/notes", {"action": "note"}, format="json")
    assert created.status_code == 201
    assert AuditEvent.objects.get(pk=created.json()["id"]).workspace == workspace


@pytest.mark.urls("tests.workspaces.test_scoping")
def test_membership_is_checked_per_request(workspace, trader_api):
    Membership.objects.filter(workspace=workspace, role=Role.TRADER).delete()
    assert_problem(trader_api.get("/api/v1/notes"), 403, "not-a-workspace-member")


@pytest.mark.urls("tests.workspaces.test_scoping")
def test_writes_land_in_the_header_workspace_only(workspace, other_workspace):
    owner_b = Membership.objects.get(workspace=other_workspace).user
    client = token_client(owner_b, other_workspace)
    client.post("/api/v1/notes", {"action": "mine"}, format="json")
    assert AuditEvent.objects.filter(action="mine", workspace=other_workspace).count() == 1
    assert not AuditEvent.objects.filter(action="mine", workspace=workspace).exists()


# --------------------------------------------------------------------------- by construction


def test_a_subclass_cannot_override_get_queryset():
    with pytest.raises(TypeError, match="overrides get_queryset"):

        class _Bypass(WorkspaceScopedViewSet):
            queryset = AuditEvent.objects.all()

            def get_queryset(self):
                return AuditEvent.objects.all()


def test_a_mixin_in_front_cannot_override_get_queryset_or_initial():
    class _Everything:
        def get_queryset(self):
            return AuditEvent.objects.all()

    class _NoChecks:
        def initial(self, request, *args, **kwargs):
            pass

    with pytest.raises(TypeError, match="overrides get_queryset"):
        type("_Front", (_Everything, WorkspaceScopedViewSet), {"queryset": AuditEvent.objects})
    with pytest.raises(TypeError, match="overrides initial"):
        type("_Front", (_NoChecks, WorkspaceScopedViewSet), {"queryset": AuditEvent.objects})


@pytest.mark.urls("tests.workspaces.test_scoping")
def test_the_hook_can_narrow_but_never_widen(workspace, other_workspace, trader_api):
    mine = record_audit(action="mine", workspace=workspace)
    theirs = record_audit(action="theirs", workspace=other_workspace)
    listed = trader_api.get("/api/v1/wide").json()["results"]
    assert [row["id"] for row in listed] == [str(mine.pk)]
    assert_problem(trader_api.get(f"/api/v1/wide/{theirs.pk}"), 404, "not-found")
    assert trader_api.get(f"/api/v1/wide/{mine.pk}").status_code == 200
