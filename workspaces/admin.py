"""Operator console: workspaces, memberships and the read-only audit trail."""

from django.contrib import admin

from config.admin import ReadOnlyAdminMixin
from workspaces.models import AuditEvent, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "on_hold", "member_count", "created_by", "created_at"]
    list_filter = ["on_hold", "created_at"]
    search_fields = ["name", "id", "memberships__user__username"]
    readonly_fields = ["id", "created_at", "created_by"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj) -> int:
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: operators read and search, nobody edits or deletes."""

    list_display = ["created_at", "action", "actor", "workspace", "target_type", "target_id", "ip"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["action", "actor__username", "workspace__name", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "workspace"]
