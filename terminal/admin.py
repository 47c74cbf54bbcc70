"""Operator console: the order journal and its events, read-only.

Orders change only through the terminal's services (placed by people and bots, canceled, kept
in step with the venue); an edit here could only make the journal disagree with the exchange.
"""

from django.contrib import admin

from config.admin import ReadOnlyAdminMixin
from terminal.models import Order, OrderEvent


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderEvent
    extra = 0
    fields = ["created_at", "from_status", "to_status", "filled", "message", "request_id"]
    readonly_fields = fields
    ordering = ["created_at", "id"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "workspace",
        "connection",
        "origin",
        "symbol",
        "side",
        "type",
        "amount",
        "price",
        "status",
        "filled",
        "average",
        "fee",
        "created_by",
    ]
    list_filter = [
        "status",
        "origin",
        "side",
        "type",
        "connection__exchange",
        "symbol",
        "created_at",
    ]
    search_fields = [
        "id",
        "client_order_id",
        "idempotency_key",
        "exchange_order_id",
        "symbol",
        "workspace__name",
        "connection__name",
        "created_by__username",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "connection", "created_by"]
    inlines = [OrderEventInline]
