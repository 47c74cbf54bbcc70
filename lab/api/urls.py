"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from rest_framework.routers import SimpleRouter

from lab.api.views import BacktestViewSet, DatasetViewSet

router = SimpleRouter(trailing_slash=False)
router.register("lab/datasets", DatasetViewSet, basename="lab-dataset")
router.register("lab/backtests", BacktestViewSet, basename="lab-backtest")

urlpatterns = router.urls
