"""Operator console: background-process heartbeats."""

from django.contrib import admin

from status.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seen_at"]
    search_fields = ["name"]
    readonly_fields = ["name", "last_seen_at", "details"]

    def has_add_permission(self, request) -> bool:
        return False
