"""The project's URLs plus views that fail on purpose, for the error-handler tests (`@pytest.mark.urls`)."""

from django.urls import path

from config.urls import handler404, handler500, urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


def boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("api/v1/boom", boom), path("boom", boom), *urlpatterns]
