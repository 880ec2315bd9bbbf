"""API bearer tokens from the identity provider: JWT access tokens checked against its JWKS (signature, issuer,
audience, expiry with OIDC_LEEWAY_SECONDS), then mapped to a user with the same group mappings as a sign-in."""

from __future__ import annotations

import hashlib
import threading
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jws import JWSRegistry, extract_compact
from joserfc.jwt import JWTClaimsRegistry

from sso.conf import OIDCSettings
from sso.provider import ProviderError, key_set, provider_error, server_metadata
from sso.services import identity_sign_in

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
SEEN_TOKENS_MAX = 10_000

_seen_lock = threading.Lock()
# sha256(token) -> (user id, exp): a token already verified and mapped costs one query, like a product token; the
# mapping is applied again with each new token the provider issues (a sign-in, for a machine).
_seen: dict[str, tuple[int, float]] = {}


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and all(value.split("."))


def token_claims(token: str, conf: OIDCSettings) -> dict:
    """The verified claims of a JWT access token, or a ProviderError (status 401) saying why it is refused."""
    try:
        header = extract_compact(token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise ProviderError("The bearer token is not a valid JWT.", detail=str(exc), status=401) from exc
    if header.get("alg") not in ALGORITHMS:
        raise ProviderError(
            "The bearer token's algorithm is not accepted.", detail=f"alg {header.get('alg')!r}", status=401
        )
    metadata = server_metadata(conf)
    registry = JWSRegistry(algorithms=ALGORITHMS, strict_check_header=False)
    try:
        try:
            decoded = jwt.decode(token, key_set(conf, kid=header.get("kid")), registry=registry)
        except InvalidKeyIdError:
            raise ProviderError(
                "The bearer token is signed with a key the identity provider does not publish.",
                detail=f"unknown kid {header.get('kid')!r} (issued by another provider?)",
                status=401,
            ) from None
        JWTClaimsRegistry(
            leeway=conf.leeway,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": conf.api_audience},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except JoseError as exc:
        raise provider_error(exc, conf) from exc
    return decoded.claims


def token_user(token: str, conf: OIDCSettings):
    """The user an access token stands for, created or updated (with its group mappings) the first time the token
    is seen; a ProviderError when the token is refused."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    seen = _seen.get(digest)
    if seen is not None and seen[1] + conf.leeway > time.time():
        try:
            return get_user_model().objects.get(pk=seen[0], is_active=True)
        except ObjectDoesNotExist:
            pass  # deactivated or deleted since: verify and map again, which says why it is refused
    claims = token_claims(token, conf)
    user = identity_sign_in(issuer=conf.issuer, claims=claims, conf=conf)
    with _seen_lock:
        if len(_seen) >= SEEN_TOKENS_MAX:
            now = time.time()
            for key in [key for key, (_, exp) in _seen.items() if exp + conf.leeway <= now] or list(_seen)[:1000]:
                _seen.pop(key, None)
        _seen[digest] = (user.pk, float(claims["exp"]))
    return user


def forget_tokens() -> None:
    """Forget the tokens already seen (tests, and after a change of the group mappings)."""
    with _seen_lock:
        _seen.clear()
