"""Top-level URLs: the API under /api/v1/, OpenAPI, health, metrics, admin and the web UI."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import metrics as config_metrics
from status import views as status_views

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("workspaces.api.urls")),
    path("", include("exchanges.api.urls")),
    path("", include("terminal.api.urls")),
    path("", include("strategies.api.urls")),
    path("", include("lab.api.urls")),
    path("", include("bots.api.urls")),
]

urlpatterns = [
    path("health", status_views.health, name="health"),
    path("api/health", status_views.health, name="api-health"),
    path("ready", status_views.ready, name="ready"),
    path("live-readiness", status_views.ready, name="live-readiness"),
    path("metrics", config_metrics.metrics_view, name="metrics"),  # every process of the host
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api-auth/", include("accounts.api_auth_urls")),  # browsable API login/logout
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language for the header switch
    path("", include("accounts.urls")),
    path("", include("exchanges.urls")),
    path("", include("terminal.urls")),
    path("", include("strategies.urls")),
    path("", include("lab.urls")),
    path("", include("bots.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
