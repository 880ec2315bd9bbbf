"""`/metrics`: the Prometheus exposition of the control plane, for a scraper holding the token or a superuser."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from observability.exposition import EXTRA_COLLECTORS, ControlPlaneCollector


def _token_ok(request) -> bool:
    expected = settings.METRICS_BEARER_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


@require_GET
def prometheus_metrics(request):
    """Text exposition (or OpenMetrics when the scraper asks for it); 401 without credentials, 403 for a user who is
    not a superuser."""
    if not _token_ok(request):
        if not request.user.is_authenticated:
            response = HttpResponse("Authentication required: a bearer token or a superuser session.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not request.user.is_superuser:
            return HttpResponse("Only superusers (or the metrics token) may read /metrics.\n", status=403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ControlPlaneCollector())
    for factory in EXTRA_COLLECTORS:
        registry.register(factory())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
