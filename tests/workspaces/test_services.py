"""Owner and role rules of workspaces.services, the one place that holds them."""

import pytest

from tests.conftest import _member, make_user
from tests.factories import MembershipFactory, UserFactory
from workspaces import services
from workspaces.exceptions import AlreadyMember, LastOwner, NotAWorkspaceMember, RoleRequired
from workspaces.models import AuditEvent, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def _membership(workspace, role) -> Membership:
    return Membership.objects.select_related("workspace", "user").get(
        workspace=workspace, role=role
    )


@pytest.mark.parametrize(
    ("actor_role", "grant", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),  # no promotion above one's own role
        (Role.TRADER, Role.VIEWER, False),  # members are managed by admins and owners
        (Role.VIEWER, Role.VIEWER, False),
    ],
)
def test_who_may_add_whom(workspace, actor_role, grant, allowed):
    actor, newcomer = _member(workspace, actor_role), UserFactory()
    if allowed:
        added = services.add_member(workspace=workspace, actor=actor, user=newcomer, role=grant)
        assert added.role == grant
        event = AuditEvent.objects.get(action="member.add")
        assert (event.actor, event.workspace, event.target_id) == (actor, workspace, str(added.pk))
        assert event.details == {"user_id": str(newcomer.pk), "role": grant}
    else:
        with pytest.raises(RoleRequired):
            services.add_member(workspace=workspace, actor=actor, user=newcomer, role=grant)
        assert not Membership.objects.filter(user=newcomer).exists()
        assert not AuditEvent.objects.filter(action="member.add").exists()


def test_a_member_is_added_once(workspace):
    owner = _member(workspace, Role.OWNER)
    with pytest.raises(AlreadyMember):
        services.add_member(
            workspace=workspace, actor=owner, user=_member(workspace, Role.VIEWER), role="trader"
        )


def test_a_non_member_manages_nothing(workspace, other_workspace):
    stranger = _member(other_workspace, Role.OWNER)
    with pytest.raises(NotAWorkspaceMember):
        services.rename_workspace(workspace=workspace, actor=stranger, name="Mine")
    with pytest.raises(NotAWorkspaceMember):
        services.remove_member(membership=_membership(workspace, Role.VIEWER), actor=stranger)
    assert Workspace.objects.get(pk=workspace.pk).name == "Alpha desk"


@pytest.mark.parametrize(
    ("target_role", "to", "allowed"),
    [
        (Role.VIEWER, Role.ADMIN, True),
        (Role.TRADER, Role.OWNER, False),  # an admin cannot make owners
        (Role.OWNER, Role.ADMIN, False),  # nor demote one
    ],
)
def test_an_admin_changes_roles_up_to_their_own(workspace, target_role, to, allowed):
    admin = _member(workspace, Role.ADMIN)
    target = _membership(workspace, target_role)
    if allowed:
        services.change_member_role(membership=target, actor=admin, role=to)
        assert Membership.objects.get(pk=target.pk).role == to
        event = AuditEvent.objects.get(action="member.role_change")
        assert event.details == {"user_id": str(target.user_id), "from": target_role, "to": to}
    else:
        with pytest.raises(RoleRequired):
            services.change_member_role(membership=target, actor=admin, role=to)
        assert Membership.objects.get(pk=target.pk).role == target_role


def test_an_admin_removes_admins_and_below_but_not_owners(workspace):
    admin = _member(workspace, Role.ADMIN)
    with pytest.raises(RoleRequired):
        services.remove_member(membership=_membership(workspace, Role.OWNER), actor=admin)
    other_admin = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    services.remove_member(membership=other_admin, actor=admin)
    assert not Membership.objects.filter(pk=other_admin.pk).exists()
    event = AuditEvent.objects.get(action="member.remove")
    assert event.details == {"user_id": str(other_admin.user_id), "role": "admin"}


def test_the_last_owner_stays_but_one_of_two_may_go(workspace):
    owner = _membership(workspace, Role.OWNER)
    with pytest.raises(LastOwner):
        services.change_member_role(membership=owner, actor=owner.user, role=Role.ADMIN)
    with pytest.raises(LastOwner):
        services.remove_member(membership=owner, actor=owner.user)
    second = services.add_member(
        workspace=workspace, actor=owner.user, user=make_user("second"), role=Role.OWNER
    )
    services.change_member_role(membership=owner, actor=second.user, role=Role.ADMIN)
    with pytest.raises(LastOwner):
        services.remove_member(membership=second, actor=second.user)
    assert list(
        Membership.objects.filter(workspace=workspace, role=Role.OWNER).values_list(
            "user", flat=True
        )
    ) == [second.user_id]


def test_rename_needs_admin_and_delete_needs_owner(workspace):
    with pytest.raises(RoleRequired):
        services.rename_workspace(workspace=workspace, actor=_member(workspace, "trader"), name="X")
    services.rename_workspace(workspace=workspace, actor=_member(workspace, "admin"), name="Beta")
    event = AuditEvent.objects.get(action="workspace.update")
    assert event.details == {"name": {"from": "Alpha desk", "to": "Beta"}}
    with pytest.raises(RoleRequired):
        services.delete_workspace(workspace=workspace, actor=_member(workspace, Role.ADMIN))
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_the_operator_console_acts_as_an_owner_within_the_workspace_rules(workspace):
    operator = make_user("ops", is_staff=True)
    owner = _membership(workspace, Role.OWNER)
    newcomer = services.add_member(
        workspace=workspace,
        actor=operator,
        user=make_user("newcomer"),
        role=Role.OWNER,
        operator=True,
    )
    services.change_member_role(membership=owner, actor=operator, role=Role.VIEWER, operator=True)
    with pytest.raises(LastOwner):
        services.remove_member(membership=newcomer, actor=operator, operator=True)
    events = AuditEvent.objects.filter(actor=operator).order_by("created_at")
    assert [(e.action, e.details["via"]) for e in events] == [
        ("member.add", "admin"),
        ("member.role_change", "admin"),
    ]
    # Staff outside the console are members like anyone else.
    with pytest.raises(NotAWorkspaceMember):
        services.rename_workspace(workspace=workspace, actor=operator, name="X")
