"""The API's token authentication: hashed, named, expiring, revocable keys; read-only keys refuse writes."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS

from security.models import ApiToken
from security.services import TokenInvalid, token_authenticate
from security.throttling import view_action


def client_ip(request) -> str | None:
    """The caller's address. Behind a proxy, set it from X-Forwarded-For in the proxy, not here (spoofable)."""
    return request.META.get("REMOTE_ADDR") or None


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>`. request.auth is the ApiToken (its name goes into the audit trail).

    A read-only token is refused (403) on any method but GET, HEAD and OPTIONS, whatever the view's permissions,
    except the actions a view lists in `read_only_actions` (a POST that only computes: a preview, a sizing search).
    """

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>'.")
        try:
            token = token_authenticate(key=parts[1].decode("latin-1"), ip=client_ip(request))
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            view = (getattr(request, "parser_context", None) or {}).get("view")
            if view_action(view, request) not in getattr(view, "read_only_actions", ()):
                raise exceptions.PermissionDenied("This token is read-only.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Named API token: "Token <key>" (create one at POST /api/v1/tokens).',
        }
