"""The authentication backend of single-sign-on sessions."""

from django.contrib.auth.backends import ModelBackend


class IdentityProviderBackend(ModelBackend):
    """Restores sessions started by an OpenID Connect sign-in and answers permission checks like ModelBackend; it
    authenticates nobody by itself (sso.views.callback verifies the provider's ID token and calls login)."""

    def authenticate(self, request, **credentials):
        return None
