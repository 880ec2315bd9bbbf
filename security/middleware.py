"""Rate limit of refused API callers: each 401 spends the address's anonymous budget; a spent budget is a 429."""

from __future__ import annotations

import math

from django.http import JsonResponse

from security.throttling import RefusedCallerThrottle

API_PREFIX = "/api/"


def _signed_in_by_session(request) -> bool:
    # A browser with a valid session sends no key to guess: it skips the check (and its cache round trip).
    return "HTTP_AUTHORIZATION" not in request.META and request.user.is_authenticated


class RefusedCallerMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX) or _signed_in_by_session(request):
            return self.get_response(request)
        wait = RefusedCallerThrottle().blocked_for(request)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            response = JsonResponse(
                {"detail": f"Request was throttled. Expected available in {seconds} seconds.", "errors": {}},
                status=429,
            )
            response["Retry-After"] = str(seconds)
            return response
        response = self.get_response(request)
        if response.status_code == 401:
            RefusedCallerThrottle().record(request)
        return response
