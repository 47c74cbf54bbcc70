"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from terminal.api.views import (
    BalancesView,
    CandlesView,
    InstrumentsView,
    OrderViewSet,
    PositionsView,
    TickerView,
)

router = SimpleRouter(trailing_slash=False)
router.register("terminal/orders", OrderViewSet, basename="terminal-order")

urlpatterns = [
    path("terminal/instruments", InstrumentsView.as_view(), name="terminal-instruments"),
    path("terminal/ticker", TickerView.as_view(), name="terminal-ticker"),
    path("terminal/candles", CandlesView.as_view(), name="terminal-candles"),
    path("terminal/balances", BalancesView.as_view(), name="terminal-balances"),
    path("terminal/positions", PositionsView.as_view(), name="terminal-positions"),
    *router.urls,
]
