"""Operator console: workspaces, memberships and the read-only audit trail.

Every write goes through `workspaces.services` with `operator=True` (an owner's authority in any
workspace, the workspace's rules still holding), so the console leaves the same audit rows as
the API. Forms show what a service would refuse before saving; a refusal that only shows at
saving (two rows changed at once) is reported as an error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.forms.models import BaseInlineFormSet

from config.admin import ReadOnlyAdminMixin
from config.problems import Problem
from workspaces import services
from workspaces.models import AuditEvent, Membership, Role, Workspace


class MembershipForm(forms.ModelForm):
    """A membership row: who and where are fixed once it exists (remove it and add another)."""

    class Meta:
        model = Membership
        fields = ["workspace", "user", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            for name in ("workspace", "user"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean(self):
        cleaned = super().clean()
        role = cleaned.get("role")
        if not self.instance._state.adding and role and "role" in self.changed_data:
            refusal = services.role_change_problem(
                membership=self.instance, role=role, operator=True
            )
            if refusal is not None:
                self.add_error("role", refusal.detail_text)
        return cleaned


class MembershipFormSet(BaseInlineFormSet):
    """Membership rows of one workspace or one user; refuses removals the service would."""

    def clean(self):
        super().clean()
        refusals = []
        for form in self.deleted_forms:
            if form.instance._state.adding:
                continue
            refusal = services.removal_problem(membership=form.instance, operator=True)
            if refusal is not None:
                refusals.append(f"{form.instance}: {refusal.detail_text}")
        if refusals:
            raise forms.ValidationError(refusals)


class MembershipInline(admin.TabularInline):
    """The members of a workspace (on its page)."""

    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


class ServiceWritesAdminMixin:
    """Runs the console's writes through services: a refusal (a Problem) becomes an error
    message and changes nothing; membership inlines are saved row by row through the services.
    """

    def _attempt(self, request, what: str, call: Callable[[], object]) -> bool:
        try:
            with transaction.atomic():
                call()
        except Problem as refusal:
            self.message_user(request, f"{what}: {refusal.detail_text}", messages.ERROR)
            return False
        return True

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        parent, parent_field = formset.instance, formset.fk.name
        # What `construct_change_message` reads after a save: only what really happened.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.deleted_forms:
            membership = row.instance
            if not membership._state.adding and self._attempt(
                request,
                str(membership),
                lambda m=membership: services.remove_member(
                    membership=m, actor=request.user, operator=True
                ),
            ):
                formset.deleted_objects.append(membership)
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed():
                continue
            data, membership = row.cleaned_data, row.instance
            if membership._state.adding:
                where = {"workspace": data.get("workspace"), "user": data.get("user")}
                where[parent_field] = parent
                created: list[Membership] = []
                if self._attempt(
                    request,
                    f"{where['user']} @ {where['workspace']}",
                    lambda w=where, r=data["role"], out=created: out.append(
                        services.add_member(**w, role=r, actor=request.user, operator=True)
                    ),
                ):
                    formset.new_objects.extend(created)
            elif "role" in row.changed_data and self._attempt(
                request,
                str(membership),
                lambda m=membership, r=data["role"]: services.change_member_role(
                    membership=m, role=r, actor=request.user, operator=True
                ),
            ):
                formset.changed_objects.append((membership, ["role"]))
        return None


class ServiceDeletesAdminMixin(ServiceWritesAdminMixin):
    """Deletes through `delete_through_service(request, obj)`, one object at a time."""

    def delete_through_service(self, request, obj) -> None:
        raise NotImplementedError

    def log_deletions(self, request, queryset):
        # Logged one by one in `_delete`, inside the service call's savepoint, so a refused
        # deletion leaves no "deleted" entry in the admin's history.
        return None

    def _delete(self, request, obj) -> None:
        def delete():
            super(ServiceDeletesAdminMixin, self).log_deletions(request, [obj])
            self.delete_through_service(request, obj)

        self._attempt(request, str(obj), delete)

    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._delete(request, obj)


@admin.register(Workspace)
class WorkspaceAdmin(ServiceDeletesAdminMixin, admin.ModelAdmin):
    """Existing workspaces: rename, members, delete. A workspace is created by its first owner
    (sign-up or `POST /api/v1/workspaces`); HOLD is set and lifted by the status flow."""

    list_display = ["name", "id", "on_hold", "member_count", "created_by", "created_at"]
    list_filter = ["on_hold", "created_at"]
    search_fields = ["name", "id", "memberships__user__username"]
    fields = ["id", "name", "on_hold", "hold_reason", "created_by", "created_at"]
    readonly_fields = ["id", "on_hold", "hold_reason", "created_at", "created_by"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj) -> int:
        return obj.memberships.count()

    def has_add_permission(self, request) -> bool:
        return False

    def get_deleted_objects(self, objs, request):
        # The service deletes everything a workspace owns, rows the console shows read-only
        # (audit trail, order journal) included: no delete permission on each is needed.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def save_model(self, request, obj, form, change):
        if "name" in form.changed_data:
            services.rename_workspace(
                workspace=obj, actor=request.user, name=obj.name, operator=True
            )

    def delete_through_service(self, request, obj) -> None:
        services.delete_workspace(workspace=obj, actor=request.user, operator=True)


@admin.register(Membership)
class MembershipAdmin(ServiceDeletesAdminMixin, admin.ModelAdmin):
    """Memberships across workspaces: change a role or remove one. Members are added on the
    workspace's page or the user's page."""

    form = MembershipForm
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The last owner's page offers no delete: the service would refuse it.
        if obj is not None and obj.role == Role.OWNER:
            if services.removal_problem(membership=obj, operator=True) is not None:
                return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if "role" in form.changed_data:
            services.change_member_role(
                membership=obj, role=obj.role, actor=request.user, operator=True
            )

    def delete_through_service(self, request, obj) -> None:
        services.remove_member(membership=obj, actor=request.user, operator=True)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: operators read and search, nobody edits or deletes."""

    list_display = ["created_at", "action", "actor", "workspace", "target_type", "target_id", "ip"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["action", "actor__username", "workspace__name", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "workspace"]
