"""Sign-in with the identity provider (authorization code + PKCE, state and nonce), its callback, and logout that
also ends the provider's session (RP-initiated logout). Every failure renders the login page with the reason and
logs it; none is a 500."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import auth
from django.contrib.admin import site as admin_site
from django.contrib.auth.views import LoginView
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ServiceError
from sso.conf import oidc_settings
from sso.provider import ProviderError, key_set, oauth_client, provider_error, server_metadata
from sso.services import identity_sign_in

logger = logging.getLogger("sso")

NEXT_KEY = "sso_next"
ID_TOKEN_KEY = "sso_id_token"
BACKEND = "sso.backends.IdentityProviderBackend"


def _safe_next(request, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, {request.get_host()}, require_https=request.is_secure()):
        return value
    return settings.LOGIN_REDIRECT_URL


def _failed(request, error: ProviderError):
    logger.warning("sso: sign-in failed: %s", error.detail)
    form = LoginView.form_class(request) if settings.LOCAL_LOGIN_ENABLED else None
    context = {"form": form, "sso_error": error.message, "next": request.session.get(NEXT_KEY, "")}
    return render(request, "registration/login.html", context, status=error.status)


@require_GET
def login(request):
    """Send the browser to the identity provider's sign-in page."""
    conf = oidc_settings()
    if conf is None:
        return redirect(settings.LOGIN_URL)
    request.session[NEXT_KEY] = _safe_next(request, request.GET.get("next"))
    try:
        server_metadata(conf)
        return oauth_client(conf).authorize_redirect(request, request.build_absolute_uri(reverse("sso:callback")))
    except Exception as exc:
        return _failed(request, provider_error(exc, conf))


@require_GET
def callback(request):
    """Where the provider sends the browser back: exchange the code (with the PKCE verifier), check the ID token's
    signature, issuer, audience, expiry and nonce, then create or update the user and their mapped roles."""
    conf = oidc_settings()
    if conf is None:
        return redirect(settings.LOGIN_URL)
    try:
        issuer = server_metadata(conf)["issuer"]
        key_set(conf)  # keys older than JWKS_MAX_AGE_SECONDS are fetched again before the ID token is checked
        token = oauth_client(conf).authorize_access_token(
            request,
            leeway=conf.leeway,
            claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": conf.client_id},
            },
        )
        claims = token.get("userinfo")
        if not claims:
            raise ProviderError("The identity provider sent no ID token.", detail=f"token response keys {list(token)}")
        user = identity_sign_in(issuer=conf.issuer, claims=dict(claims), conf=conf)
    except ServiceError as exc:
        return _failed(request, ProviderError(exc.detail, detail=f"{exc.detail} {exc.errors}", status=exc.status_code))
    except Exception as exc:
        return _failed(request, provider_error(exc, conf))
    if not user.is_active:
        return _failed(request, ProviderError("This account is disabled.", status=403))
    next_url = request.session.pop(NEXT_KEY, settings.LOGIN_REDIRECT_URL)
    auth.login(request, user, backend=BACKEND)
    request.session[ID_TOKEN_KEY] = token.get("id_token", "")
    logger.info("sso: %s signed in", user.username)
    return HttpResponseRedirect(next_url)


@require_POST
def logout(request):
    """End the session here and, for a single-sign-on session, at the identity provider too."""
    id_token = request.session.get(ID_TOKEN_KEY)
    auth.logout(request)
    conf = oidc_settings()
    after = request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL)
    if conf is None or not id_token:
        return HttpResponseRedirect(after)
    try:
        if server_metadata(conf).get("end_session_endpoint"):
            return oauth_client(conf).logout_redirect(request, post_logout_redirect_uri=after, id_token_hint=id_token)
    except Exception as exc:
        # Signed out here already: the provider's session outlives ours, which the log says.
        logger.warning("sso: RP-initiated logout failed: %s", provider_error(exc, conf).detail)
    return HttpResponseRedirect(after)


def admin_login(request, extra_context=None):
    """The admin's login: the console's login page (with the provider's button) when single sign-on is on."""
    if oidc_settings() is None:
        return admin_site.login(request, extra_context)
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': request.GET.get('next', reverse('admin:index'))})}")
