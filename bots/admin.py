"""Operator console: bots, runs, their events, order intents and equity.

Rows are read-only here: bots change through the API (which validates them at the venue and
audits), runs and events only through bots.services. The run actions (stop, stop all in the
workspace) call those services with the operator as the actor, so they are audited too.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet

from bots import selectors, services
from bots.models import ACTIVE_RUN_STATES, Bot, BotRun, OrderIntent, RunEquityPoint, RunEvent
from config.admin import ReadOnlyAdminMixin
from config.problems import Problem


@admin.register(Bot)
class BotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "strategy_version",
        "exchange_connection",
        "mode",
        "order_type",
        "max_position_quote",
        "max_daily_loss_pct",
        "max_orders_per_minute",
        "active_run_state",
        "created_by",
        "created_at",
    ]
    list_filter = ["mode", "order_type", "close_on_stop", "workspace", "created_at"]
    search_fields = ["id", "name", "workspace__name", "strategy_version__strategy__name"]
    list_select_related = [
        "workspace",
        "strategy_version__strategy",
        "exchange_connection",
        "created_by",
    ]
    actions = ["stop_active_runs"]

    def get_queryset(self, request):
        return selectors.with_active_run(super().get_queryset(request))

    @admin.display(description="active run")
    def active_run_state(self, bot: Bot) -> str:
        return bot.active_run_state or "—"

    @admin.action(description="Stop the active runs of the selected bots")
    def stop_active_runs(self, request, queryset: QuerySet[Bot]):
        runs = BotRun.objects.filter(bot__in=queryset, state__in=ACTIVE_RUN_STATES)
        _stop_each(request, runs)


def _stop_each(request, runs: QuerySet[BotRun]) -> None:
    stopped, failed = 0, []
    for run in runs:
        try:
            services.stop_run(run=run, actor=request.user, via="admin")
        except Problem as problem:
            failed.append(f"{run.pk}: {problem.detail_text}")
        else:
            stopped += 1
    messages.success(request, f"{stopped} run(s) stopping.")
    for line in failed:
        messages.warning(request, line)


class EventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RunEvent
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["seq", "kind", "from_state", "to_state", "error_code", "message", "created_at"]
    readonly_fields = fields
    ordering = ["-seq"]

    def get_queryset(self, request):
        # The latest events only: a long run writes one per decision.
        queryset = super().get_queryset(request)
        return queryset.filter(pk__in=queryset.order_by("-seq").values("pk")[:100])


@admin.register(BotRun)
class BotRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "bot",
        "workspace",
        "state",
        "error_code",
        "position",
        "realized_pnl",
        "unrealized_pnl",
        "started_at",
        "ended_at",
        "created_by",
        "created_at",
    ]
    list_filter = ["state", "error_code", "workspace", "created_at"]
    search_fields = ["id", "bot__name", "workspace__name", "request_id", "error_code"]
    list_select_related = ["bot", "workspace", "created_by"]
    inlines = [EventInline]
    actions = ["stop_runs", "stop_all_in_workspace"]

    @admin.action(description="Stop the selected runs")
    def stop_runs(self, request, queryset: QuerySet[BotRun]):
        _stop_each(request, queryset.filter(state__in=ACTIVE_RUN_STATES))

    @admin.action(description="Stop all runs in the selected runs' workspaces")
    def stop_all_in_workspace(self, request, queryset: QuerySet[BotRun]):
        workspaces = {run.workspace for run in queryset.select_related("workspace")}
        for workspace in workspaces:
            result = services.stop_all(workspace=workspace, actor=request.user, via="admin")
            messages.success(request, f"{workspace}: {len(result.stopped)} run(s) stopping.")
            for error in result.errors:
                messages.warning(request, f"{workspace}: {error['id']}: {error['error']}")


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "run",
        "seq",
        "kind",
        "from_state",
        "to_state",
        "error_code",
        "message",
        "request_id",
        "created_at",
    ]
    list_filter = ["kind", "to_state", "error_code", "run__workspace", "created_at"]
    search_fields = ["run__id", "run__bot__name", "request_id", "message"]
    list_select_related = ["run__bot"]


@admin.register(OrderIntent)
class OrderIntentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A tick's order decisions: what an operator checks when a run's orders look stuck."""

    list_display = [
        "run",
        "candle_ts",
        "purpose",
        "side",
        "type",
        "amount",
        "price",
        "status",
        "client_order_id",
        "error_code",
        "created_at",
    ]
    list_filter = ["status", "purpose", "run__workspace", "created_at"]
    search_fields = ["run__id", "run__bot__name", "client_order_id", "idempotency_key"]
    list_select_related = ["run__bot"]


@admin.register(RunEquityPoint)
class RunEquityPointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "ts", "equity", "position", "close"]
    list_filter = ["run__workspace"]
    search_fields = ["run__id", "run__bot__name"]
    list_select_related = ["run__bot"]
