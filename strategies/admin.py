"""Operator console: strategies with their versions (versions are read-only)."""

import json

from django.contrib import admin, messages
from django.db.models import Count, Max
from django.utils.html import format_html

from config.admin import ReadOnlyAdminMixin
from strategies import services
from strategies.exceptions import StrategyInUse
from strategies.models import Strategy, StrategyVersion


def _pretty_body(version: StrategyVersion) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(version.authored_body, indent=2, ensure_ascii=False),
    )


class VersionInline(admin.TabularInline):
    model = StrategyVersion
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["number", "body_sha256", "created_by", "created_at"]
    readonly_fields = fields
    ordering = ["-number"]
    show_change_link = True


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "latest_version", "versions", "created_by", "updated_at"]
    list_filter = ["updated_at"]
    search_fields = ["name", "id", "workspace__name"]
    list_select_related = ["workspace", "created_by"]
    readonly_fields = ["id", "workspace", "created_by", "created_at", "updated_at"]
    fields = ["name", "description", *readonly_fields]
    inlines = [VersionInline]
    actions = ["delete_unused"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(latest_number=Max("versions__number"), versions_total=Count("versions"))
        )

    @admin.display(description="latest version", ordering="latest_number")
    def latest_version(self, obj) -> str:
        return f"v{obj.latest_number}" if obj.latest_number else "—"

    @admin.display(description="versions", ordering="versions_total")
    def versions(self, obj) -> int:
        return obj.versions_total

    def has_add_permission(self, request) -> bool:
        return False  # a strategy starts with a validated body: the editor or the API

    def save_model(self, request, obj, form, change):
        # Through the service, so a rename is checked and audited like one made in the UI.
        services.update_strategy(
            strategy=Strategy.objects.get(pk=obj.pk),
            actor=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )

    def delete_model(self, request, obj):
        services.delete_strategy(strategy=obj, actor=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by delete_unused, which audits each
        return actions

    @admin.action(description="Delete selected strategies that no backtest or bot uses")
    def delete_unused(self, request, queryset):
        deleted, refused = 0, []
        for strategy in queryset:
            try:
                services.delete_strategy(strategy=strategy, actor=request.user)
                deleted += 1
            except StrategyInUse:
                refused.append(strategy.name)
        if deleted:
            self.message_user(request, f"Deleted {deleted} strategies.", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"In use, not deleted: {', '.join(refused)}.", messages.WARNING
            )


@admin.register(StrategyVersion)
class StrategyVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Versions are immutable: operators read them; nothing is added, changed or deleted here."""

    list_display = ["strategy", "number", "short_sha", "created_by", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["strategy__name", "body_sha256", "id"]
    list_select_related = ["strategy", "created_by"]
    fields = ["id", "strategy", "number", "body_sha256", "created_by", "created_at", "pretty_body"]
    readonly_fields = fields

    @admin.display(description="SHA-256")
    def short_sha(self, obj) -> str:
        return obj.body_sha256[:12]

    @admin.display(description="body")
    def pretty_body(self, obj) -> str:
        return _pretty_body(obj)
