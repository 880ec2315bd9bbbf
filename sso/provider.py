"""The identity provider as seen from here: one Authlib client per configuration (discovery document and JWKS
cached in it), the JWKS refetched when a token names a key we do not know (key rotation), and every way a
sign-in can fail turned into a `ProviderError` with a message a person can act on."""

from __future__ import annotations

import logging
import threading
import time

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import KeySet

from sso.conf import OIDCSettings

logger = logging.getLogger("sso")

# A token naming an unknown key refetches the JWKS at most this often, so forged key ids cannot hammer the provider.
JWKS_MIN_REFRESH_SECONDS = 10.0
# And the keys are fetched again after this long anyway, so a key the provider withdrew stops being trusted.
JWKS_MAX_AGE_SECONDS = 3600.0

_lock = threading.Lock()
_clients: dict[OIDCSettings, DjangoOAuth2App] = {}
_key_sets: dict[OIDCSettings, tuple[int, KeySet, float]] = {}


class ProviderError(Exception):
    """A sign-in or token check that failed for a reason named in `message` (shown to the person) and `detail`
    (logged for the administrator). `status` is the HTTP status of the page that says it."""

    def __init__(self, message: str, *, detail: str = "", status: int = 502):
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.status = status


def oauth_client(conf: OIDCSettings) -> DjangoOAuth2App:
    """The Authlib client for this configuration: authorization code flow with PKCE (S256), nonce and state."""
    with _lock:
        client = _clients.get(conf)
        if client is None:
            client = OAuth().register(
                name=f"oidc-{len(_clients)}",
                client_id=conf.client_id,
                client_secret=conf.client_secret,
                server_metadata_url=conf.metadata_url,
                client_kwargs={"scope": conf.scopes, "code_challenge_method": "S256", "default_timeout": conf.timeout},
            )
            _clients[conf] = client
    return client


def server_metadata(conf: OIDCSettings) -> dict:
    """The discovery document (fetched once per configuration); a provider that cannot answer is a ProviderError."""
    client = oauth_client(conf)
    try:
        metadata = client.load_server_metadata()
    except Exception as exc:
        raise provider_error(exc, conf) from exc
    if metadata.get("issuer", "").rstrip("/") != conf.issuer:
        client.server_metadata.pop("_loaded_at", None)
        raise ProviderError(
            "Single sign-on is misconfigured: the identity provider calls itself by another issuer.",
            detail=f"discovery at {conf.metadata_url} names issuer {metadata.get('issuer')!r}, not {conf.issuer!r}",
        )
    return metadata


def key_set(conf: OIDCSettings, *, kid: str | None = None) -> KeySet:
    """The provider's signing keys; refetched when `kid` is not among them (the provider rotated its keys) and
    when they are older than JWKS_MAX_AGE_SECONDS (the provider withdrew one). The sign-in shares them."""
    client = oauth_client(conf)
    server_metadata(conf)
    try:
        jwks = client.fetch_jwk_set()
        cached = _key_sets.get(conf)
        if cached is None or cached[0] != id(jwks):
            cached = (id(jwks), KeySet.import_key_set(jwks), time.monotonic())
            _key_sets[conf] = cached
        age = time.monotonic() - cached[2]
        unknown = kid is not None and all(key.kid != kid for key in cached[1])
        if age >= JWKS_MAX_AGE_SECONDS or (unknown and age >= JWKS_MIN_REFRESH_SECONDS):
            jwks = client.fetch_jwk_set(force=True)
            cached = (id(jwks), KeySet.import_key_set(jwks), time.monotonic())
            _key_sets[conf] = cached
            logger.info("sso: fetched the JWKS of %s again (key id %s, keys %.0f s old)", conf.issuer, kid, age)
    except ProviderError:
        raise
    except Exception as exc:
        raise provider_error(exc, conf) from exc
    return cached[1]


def forget_provider(conf: OIDCSettings | None = None) -> None:
    """Drop the cached discovery document and keys (all configurations when None)."""
    with _lock:
        for key in [conf] if conf else list(_clients):
            _clients.pop(key, None)
            _key_sets.pop(key, None)


def provider_error(exc: Exception, conf: OIDCSettings) -> ProviderError:
    """What went wrong with the provider, in words a person and an administrator can act on."""
    leeway = f"more than OIDC_LEEWAY_SECONDS ({conf.leeway} s)"
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return ProviderError(
            "The identity provider cannot be reached right now. Try again in a moment"
            " or ask an administrator to check the single sign-on settings.",
            detail=f"{conf.issuer} unreachable: {type(exc).__name__}: {exc}",
        )
    if isinstance(exc, requests.HTTPError | ValueError) and not isinstance(exc, JoseError):
        return ProviderError(
            "The identity provider answered with an error. Ask an administrator to check the single sign-on settings.",
            detail=f"{conf.issuer}: {type(exc).__name__}: {exc}",
        )
    if isinstance(exc, MismatchingStateError):
        return ProviderError(
            "This sign-in expired or was started in another browser window. Please sign in again.",
            detail="state mismatch: no sign-in request with this state in the session",
            status=400,
        )
    if isinstance(exc, OAuthError):
        if exc.error == "invalid_client":
            return ProviderError(
                "Single sign-on is misconfigured: the identity provider refused this application's client id or "
                "secret. Ask an administrator to check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.",
                detail=f"token endpoint answered invalid_client: {exc.description}",
            )
        if exc.error == "access_denied":
            return ProviderError("Sign-in was cancelled or refused by the identity provider.", status=400)
        return ProviderError(
            f"The identity provider refused the sign-in ({exc.error}).",
            detail=f"{exc.error}: {exc.description}",
        )
    if isinstance(exc, ExpiredTokenError) or (isinstance(exc, InvalidClaimError) and exc.claim in ("iat", "nbf")):
        return ProviderError(
            "The identity provider's token is expired or not yet valid: the clocks of this server and the identity "
            "provider probably differ. Ask an administrator to synchronise them (NTP).",
            detail=f"{type(exc).__name__}: {exc} (clock skew {leeway}?)",
            status=401,
        )
    if isinstance(exc, BadSignatureError):
        return ProviderError(
            "The identity provider's token has an invalid signature.", detail=f"bad signature: {exc}", status=401
        )
    if isinstance(exc, ClaimError | JoseError):
        return ProviderError(
            "The identity provider's token was not accepted.", detail=f"{type(exc).__name__}: {exc}", status=401
        )
    return ProviderError(
        "Single sign-on failed. Ask an administrator to check the single sign-on settings.",
        detail=f"{type(exc).__name__}: {exc}",
    )
