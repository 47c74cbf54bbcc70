"""Operator console: connections (the key hint, never a secret) and the demo exchange's books.

Connections are created and re-keyed through the UI and the API, where credentials are sealed,
validated and audited; here operators search, inspect, test and delete (through the services).
The encrypted column is not even loaded into the form.
"""

from django.contrib import admin, messages

from config.admin import ReadOnlyAdminMixin
from config.problems import Problem
from exchanges import services
from exchanges.models import DemoBalance, DemoFill, DemoOrder, ExchangeConnection


class _ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows written only by the venue: operators read and search, nobody edits."""


@admin.register(ExchangeConnection)
class ExchangeConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "exchange",
        "mode",
        "status",
        "api_key_hint",
        "last_checked_at",
        "last_latency_ms",
        "created_at",
    ]
    list_filter = ["mode", "status", "exchange", "created_at"]
    search_fields = ["name", "id", "exchange", "workspace__name", "api_key_hint"]
    list_select_related = ["workspace"]
    exclude = ["encrypted_secret"]
    readonly_fields = [
        "id",
        "workspace",
        "name",
        "exchange",
        "mode",
        "api_key_hint",
        "secret_key_id",
        "status",
        "last_checked_at",
        "last_error",
        "last_latency_ms",
        "created_by",
        "created_at",
        "updated_at",
    ]
    actions = ["test_connections"]

    def get_queryset(self, request):
        # The ciphertext never leaves the database on the admin's pages.
        return super().get_queryset(request).defer("encrypted_secret")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the change page is a read-only view

    def delete_model(self, request, obj) -> None:
        services.delete_connection(connection=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for connection in queryset:
            services.delete_connection(connection=connection, actor=request.user)

    @admin.action(description="Test the selected connections")
    def test_connections(self, request, queryset) -> None:
        for pk in queryset.values_list("pk", flat=True):
            connection = ExchangeConnection.objects.get(pk=pk)  # with its sealed credentials
            try:
                result = services.test_connection(connection=connection, actor=request.user)
            except Problem as problem:
                self.message_user(
                    request, f"{connection.name}: {problem.detail_text}", level=messages.ERROR
                )
            else:
                self.message_user(request, f"{connection.name}: {result.message}")


@admin.register(DemoBalance)
class DemoBalanceAdmin(_ReadOnlyAdmin):
    list_display = ["connection", "asset", "free", "used", "updated_at"]
    list_filter = ["asset"]
    search_fields = ["connection__name", "connection__workspace__name", "asset"]
    list_select_related = ["connection"]


class DemoFillInline(admin.TabularInline):
    model = DemoFill
    extra = 0
    can_delete = False
    fields = ["executed_at", "price", "amount", "fee", "fee_currency", "taker"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DemoOrder)
class DemoOrderAdmin(_ReadOnlyAdmin):
    list_display = [
        "created_at",
        "connection",
        "symbol",
        "side",
        "type",
        "amount",
        "price",
        "status",
        "filled",
        "average",
        "fee",
    ]
    list_filter = ["status", "side", "type", "symbol"]
    search_fields = ["id", "client_order_id", "connection__name", "connection__workspace__name"]
    date_hierarchy = "created_at"
    list_select_related = ["connection"]
    inlines = [DemoFillInline]


@admin.register(DemoFill)
class DemoFillAdmin(_ReadOnlyAdmin):
    list_display = ["executed_at", "order", "price", "amount", "fee", "fee_currency", "taker"]
    list_filter = ["taker", "fee_currency"]
    search_fields = ["order__id", "order__client_order_id"]
    list_select_related = ["order"]
