"""System checks: a configuration that would lock everyone out, or a mapping that cannot be read, fails early."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from sso.conf import configured_mappings


@register()
def sso_settings(app_configs, **kwargs):
    errors = []
    if not settings.LOCAL_LOGIN_ENABLED and not settings.OIDC_ISSUER:
        errors.append(Error("LOCAL_LOGIN_ENABLED is off and OIDC_ISSUER is empty: nobody could log in.", id="sso.E001"))
    if settings.OIDC_ISSUER and not settings.OIDC_CLIENT_ID:
        errors.append(Error("OIDC_ISSUER is set but OIDC_CLIENT_ID is empty.", id="sso.E002"))
    try:
        configured_mappings()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="sso.E003"))
    return errors
