"""The gateway's routes (mounted at deployments.models.ENDPOINT_PATH_PREFIX by config/urls.py)."""

from django.urls import path

from serving.views import serve

urlpatterns = [
    path("<slug:slug>", serve, name="serve-bare"),
    path("<slug:slug>/", serve, name="serve-root"),
    path("<slug:slug>/<path:path>", serve, name="serve"),
]
