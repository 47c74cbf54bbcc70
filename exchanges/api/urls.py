"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from rest_framework.routers import SimpleRouter

from exchanges.api.views import ExchangeConnectionViewSet

router = SimpleRouter(trailing_slash=False)
router.register("exchange-connections", ExchangeConnectionViewSet, basename="exchange-connection")

urlpatterns = router.urls
