"""Root URLs. Each app owns its API routes in <app>/api/urls.py; paths under /api/ take an optional slash."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz
from deployments.models import ENDPOINT_PATH_PREFIX
from observability.views import prometheus_metrics
from sso import views as sso_views

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
    path("admin/login/", sso_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/logout/", sso_views.logout, name="logout"),  # ends the identity provider's session too
    path("accounts/oidc/", include("sso.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("tenancy.api.urls")),
    path("api/v1/", include("components.api.urls")),
    path("api/v1/", include("templates_app.api.urls")),
    path("api/", include("usecases.api.urls")),
    path("api/v1/", include("jobs.api.urls")),
    path("api/v1/", include("deployments.api.urls")),
    path("api/v1/", include("observability.api.urls")),
    path("api/v1/", include("sizing.api.urls")),
    path("api/v1/", include("security.api.urls")),
    path("api/v1/", include("audit.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("autoscaling.api.urls")),
    path("api/v1/", include("serving.api.urls")),
    path(ENDPOINT_PATH_PREFIX.lstrip("/"), include("serving.urls")),  # the request gateway: deployment keys only
    path("", include("console.urls")),
]

# Under /api/ an unknown path or an unhandled error answers the JSON error shape; elsewhere Django's HTML pages.
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
