"""The gateway's HTTP face: `/serve/<endpoint slug>/<path>`, outside /api/v1 and its session or token auth.

A plain Django view (no DRF): the only credential is `Authorization: Bearer <deployment key>`, and what it costs
per request is the gateway's overhead (bench/serving_bench.py), so it runs no authentication classes, no
throttles of the API and no CSRF check (no cookie is ever trusted here)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from serving.gateway import handle


@csrf_exempt
@require_http_methods(["GET", "POST"])
def serve(request, slug: str, path: str = ""):
    """Send one request to the deployment's endpoint; the answer is the serving component's (simulated)."""
    outcome = handle(
        slug=slug,
        path=path,
        method=request.method,
        authorization=request.headers.get("Authorization", ""),
        body_bytes=len(request.body),
        now=timezone.now(),
        ticket=request.headers.get("X-Queue-Ticket", ""),
    )
    response = JsonResponse(outcome.body, status=outcome.status)
    for name, value in outcome.headers.items():
        response[name] = value
    return response
