from rest_framework.routers import SimpleRouter

from workspaces.api.views import AuditEventViewSet, WorkspaceViewSet

router = SimpleRouter(trailing_slash=False)
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("audit", AuditEventViewSet, basename="audit")

urlpatterns = router.urls
