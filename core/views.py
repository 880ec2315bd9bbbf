"""Project-wide views: the health check, and the 404/500 handlers that answer the API's JSON error shape."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET

from config.celery_app import app

API_PREFIX = "/api/"


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@require_GET
def healthz(request):
    checks = {"database": _check_database(), "broker": _check_broker()}
    body = {name: ("ok" if error is None else error) for name, error in checks.items()}
    healthy = all(error is None for error in checks.values())
    body["status"] = "ok" if healthy else "unavailable"
    return JsonResponse(body, status=200 if healthy else 503)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request, exception):
    """handler404: the JSON error shape under /api/ (paths no route matches), Django's HTML page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found.", "errors": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: the JSON error shape under /api/, Django's HTML page elsewhere. The error is logged by Django."""
    if _is_api(request):
        return JsonResponse({"detail": "A server error occurred.", "errors": {}}, status=500)
    return defaults.server_error(request)
