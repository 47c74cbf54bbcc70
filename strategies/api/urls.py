"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from strategies.api.views import StrategySchemaView, StrategyViewSet

router = SimpleRouter(trailing_slash=False)
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns = [
    path("strategies/schema", StrategySchemaView.as_view(), name="strategy-schema"),
    *router.urls,
]
