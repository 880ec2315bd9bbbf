"""DRF authentication with the identity provider's access tokens (`Authorization: Bearer <JWT>`), beside the
product's own tokens. A bearer value that is not a JWT is left to the other authentication classes."""

from __future__ import annotations

import logging

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from core.exceptions import ServiceError
from sso.conf import oidc_settings
from sso.provider import ProviderError
from sso.tokens import looks_like_jwt, token_user

logger = logging.getLogger("sso")


class IdentityProviderTokenAuthentication(BaseAuthentication):
    """Accepts JWT access tokens issued by OIDC_ISSUER for OIDC_API_AUDIENCE (e.g. a CI's client credentials)."""

    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            return None
        token = parts[1].decode("latin-1")
        conf = oidc_settings()
        if conf is None or not looks_like_jwt(token):
            return None
        try:
            user = token_user(token, conf)
        except ProviderError as exc:
            logger.warning("sso: bearer token refused: %s", exc.detail)
            raise AuthenticationFailed(exc.message) from None
        except ServiceError as exc:
            logger.warning("sso: bearer token's user refused: %s %s", exc.detail, exc.errors)
            raise AuthenticationFailed(exc.detail) from None
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class IdentityProviderTokenScheme(OpenApiAuthenticationExtension):
    target_class = IdentityProviderTokenAuthentication
    name = "identityProviderToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token (JWT) from the OpenID Connect provider, e.g. client credentials.",
        }
