"""Operator console: datasets, backtests and their trades (results are read-only)."""

from django.contrib import admin, messages

from config.admin import ReadOnlyAdminMixin
from lab import services
from lab.models import TRADE_FIELDS, Backtest, BacktestTrade, Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "symbol",
        "timeframe",
        "source",
        "rows",
        "start_ts",
        "end_ts",
        "status",
        "progress",
        "created_at",
    ]
    list_filter = ["status", "source", "timeframe", "created_at"]
    search_fields = ["name", "symbol", "sha256", "id", "workspace__name"]
    list_select_related = ["workspace"]
    # The candles are a file named by its hash: editing the row could only make them disagree.
    readonly_fields = [
        "id",
        "workspace",
        "symbol",
        "timeframe",
        "source",
        "connection",
        "amount_step",
        "start_ts",
        "end_ts",
        "rows",
        "sha256",
        "file_path",
        "size_bytes",
        "status",
        "progress",
        "error",
        "created_by",
        "created_at",
    ]
    fields = ["name", *readonly_fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting goes through the API, which refuses while backtests use it


class TradeInline(admin.TabularInline):
    model = BacktestTrade
    extra = 0
    max_num = 0
    can_delete = False
    fields = TRADE_FIELDS
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        # The first trades only: a long backtest may have tens of thousands.
        return super().get_queryset(request).filter(seq__lte=100)


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Results are what the engine produced ("rerun" makes a new backtest); the API deletes a
    # finished backtest together with its equity file.
    list_display = [
        "id",
        "workspace",
        "strategy_version",
        "dataset",
        "status",
        "progress",
        "net_pnl",
        "trades",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "engine_version", "created_at"]
    search_fields = ["id", "inputs_sha256", "workspace__name", "dataset__name"]
    list_select_related = ["workspace", "strategy_version__strategy", "dataset", "created_by"]
    inlines = [TradeInline]
    actions = ["rerun"]

    @admin.display(description="net PnL")
    def net_pnl(self, backtest: Backtest) -> str:
        return (backtest.metrics or {}).get("net_pnl", "—")

    @admin.display(description="trades")
    def trades(self, backtest: Backtest):
        return (backtest.metrics or {}).get("trades", "—")

    @admin.action(description="Rerun with the same inputs")
    def rerun(self, request, queryset):
        for backtest in queryset.select_related("workspace", "strategy_version", "dataset"):
            services.rerun_backtest(backtest=backtest, actor=request.user)
        messages.success(request, f"Queued {queryset.count()} rerun(s).")


@admin.register(BacktestTrade)
class BacktestTradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["backtest", "seq", "entry_time", "exit_time", "amount", "pnl", "exit_reason"]
    list_filter = ["exit_reason"]
    search_fields = ["backtest__id"]
