"""API routes of this app (mounted under /api/v1/ by config/urls.py)."""

from rest_framework.routers import SimpleRouter

from bots.api.views import BotViewSet, RunViewSet

router = SimpleRouter(trailing_slash=False)
router.register("bots", BotViewSet, basename="bot")
router.register("runs", RunViewSet, basename="run")

urlpatterns = router.urls
