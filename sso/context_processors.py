from django.conf import settings

from sso.conf import oidc_settings


def sso(request) -> dict:
    """What the login page offers: the identity provider's button, the password form, or both."""
    conf = oidc_settings()
    return {
        "sso_enabled": conf is not None,
        "sso_provider_name": conf.provider_name if conf else "",
        "local_login_enabled": settings.LOCAL_LOGIN_ENABLED,
    }
