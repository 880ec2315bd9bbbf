from django.urls import re_path

from sizing.api.views import EstimateView, GpuTypeListView, ModelListView, SizingView

urlpatterns = [
    re_path(r"^sizing/?$", SizingView.as_view(), name="sizing"),
    re_path(r"^sizing/estimate/?$", EstimateView.as_view(), name="sizing-estimate"),
    re_path(r"^gpu-types/?$", GpuTypeListView.as_view(), name="gpu-types"),
    re_path(r"^models/?$", ModelListView.as_view(), name="models"),
]
