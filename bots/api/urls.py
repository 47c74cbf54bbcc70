"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from bots.api.charts import BotChartView, RunChartView, RunEquityView
from bots.api.replays import BotReplaysView, ReplayViewSet
from bots.api.views import BotViewSet, RunViewSet

router = SimpleRouter(trailing_slash=False)
router.register("bots", BotViewSet, basename="bot")
router.register("runs", RunViewSet, basename="run")
router.register("replays", ReplayViewSet, basename="replay")

urlpatterns = [
    path("bots/<uuid:pk>/chart", BotChartView.as_view(), name="bot-chart"),
    path("runs/<uuid:pk>/chart", RunChartView.as_view(), name="run-chart"),
    path("runs/<uuid:pk>/equity", RunEquityView.as_view(), name="run-equity"),
    path("bots/<uuid:pk>/replays", BotReplaysView.as_view(), name="bot-replays"),
    *router.urls,
]
