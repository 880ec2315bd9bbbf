"""Single sign-on benchmark (issue 24): what the identity provider's tokens cost per API request, and a sign-in's
round trip, against the real test provider (node oidc-provider on 127.0.0.1, sso/tests/oidc-provider/).

    python bench/sso_bench.py            # PostgreSQL (own database uf_bench_sso) + Redis
    python bench/sso_bench.py --quick    # fewer rounds: a smoke run

Reported, all medians from one run (p99 where it matters), in process (Django test Client / DRF request objects,
no WSGI server):
- JWT verification alone (signature RS256 + iss/aud/exp checks, JWKS cached): `sso.tokens.token_claims`.
- The DRF authentication class on a token already seen (one query) beside the product's named API tokens,
  and on a token seen for the first time (verification + user and group mapping written).
- GET /api/v1/tenants end to end with `Token <key>` and with `Bearer <JWT>`, interleaved.
- The first verification after the provider rotated its key (JWKS fetched again).
- A sign-in: our redirect, the provider's part (authorize, login page, login POST, redirects back), our callback
  (code exchange with PKCE verifier, ID token check, user and memberships, session).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "uf_bench_sso"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    return f"| {name} | {statistics.median(samples):.3f} ms | {percentile(samples, 99):.3f} ms | {len(samples)} |"


def ok(response) -> None:
    assert response.status_code == 200, (response.status_code, response.content[:300])


def setup_environment() -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {DB_NAME}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["API_RATE_USER"] = "1000000/minute"  # measure authentication, not the rate limit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, logins = (200, 5) if args.quick else (2000, 30)
    setup_environment()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.request import Request
    from rest_framework.test import APIClient, APIRequestFactory

    from security.authentication import ApiTokenAuthentication
    from security.services import token_create
    from sso.authentication import IdentityProviderTokenAuthentication
    from sso.conf import oidc_settings
    from sso.models import GroupRoleMapping
    from sso.testing import API_AUDIENCE, SCOPES, WEB_CLIENT, TestProvider, node_unavailable, path_of
    from sso.tokens import forget_tokens, token_claims
    from tenancy.models import Membership, Tenant
    from tenancy.tests.factories import UserFactory

    reason = node_unavailable()
    if reason:
        sys.exit(reason)
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="Acme")
    for group, role in (("ci-deployers", "member"), ("acme-admins", "admin")):
        GroupRoleMapping.objects.create(group=group, tenant=tenant, role=role)
    local = UserFactory(username="token-user")
    Membership.objects.create(user=local, tenant=tenant, role="member")
    product_token = token_create(user=local, owner=local, name="bench")[1]

    provider = TestProvider(redirect_base="http://testserver", ci_groups=["ci-deployers"])
    try:
        provider.add_user("alice", password="pw", groups=["acme-admins"])
        settings.OIDC_ISSUER = provider.issuer
        settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = WEB_CLIENT
        settings.OIDC_SCOPES = SCOPES
        settings.OIDC_API_AUDIENCE = API_AUDIENCE
        conf = oidc_settings()
        jwt = provider.client_credentials_token()
        factory = APIRequestFactory()

        def request_with(header: str) -> Request:
            return Request(factory.get("/api/v1/tenants", HTTP_AUTHORIZATION=header))

        token_claims(jwt, conf)  # discovery and JWKS fetched once
        bearer_auth, token_auth = IdentityProviderTokenAuthentication(), ApiTokenAuthentication()
        bearer_auth.authenticate(request_with(f"Bearer {jwt}"))  # seen from here on
        # Interleaved, so the machine's load falls on every path alike.
        results: dict[str, list[float]] = {"verify": [], "bearer_seen": [], "token": []}
        for _ in range(rounds):
            results["verify"] += timed(lambda: token_claims(jwt, conf), 1)
            results["bearer_seen"] += timed(lambda: bearer_auth.authenticate(request_with(f"Bearer {jwt}")), 1)
            results["token"] += timed(lambda: token_auth.authenticate(request_with(f"Token {product_token}")), 1)
        fresh = [provider.client_credentials_token() for _ in range(max(20, rounds // 20))]
        first = []
        for value in fresh:
            start = time.perf_counter()
            bearer_auth.authenticate(request_with(f"Bearer {value}"))
            first.append((time.perf_counter() - start) * 1000)
        results["bearer_first"] = first

        token_client, bearer_client = APIClient(), APIClient()
        token_client.credentials(HTTP_AUTHORIZATION=f"Token {product_token}")
        bearer_client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt}")
        e2e_token, e2e_bearer = [], []
        for _ in range(rounds // 4):
            e2e_token += timed(lambda: ok(token_client.get("/api/v1/tenants")), 1)
            e2e_bearer += timed(lambda: ok(bearer_client.get("/api/v1/tenants")), 1)
        results["e2e_token"], results["e2e_bearer"] = e2e_token, e2e_bearer

        rotation = []
        for _ in range(3 if args.quick else 5):
            provider.restart()
            value = provider.client_credentials_token()
            time.sleep(10.1)  # past JWKS_MIN_REFRESH_SECONDS, as a real rotation would be
            forget_tokens()
            start = time.perf_counter()
            token_claims(value, conf)
            rotation.append((time.perf_counter() - start) * 1000)
        results["rotation"] = rotation

        start_ms, provider_ms, callback_ms, total_ms = [], [], [], []
        for _ in range(logins):
            client = Client()
            t0 = time.perf_counter()
            location = client.get("/accounts/oidc/login/?next=/")["Location"]
            t1 = time.perf_counter()
            back = provider.sign_in(location, username="alice", password="pw", stop_at="http://testserver")
            t2 = time.perf_counter()
            response = client.get(path_of(back))
            t3 = time.perf_counter()
            assert response.status_code == 302, response.content[:300]
            start_ms.append((t1 - t0) * 1000)
            provider_ms.append((t2 - t1) * 1000)
            callback_ms.append((t3 - t2) * 1000)
            total_ms.append((t3 - t0) * 1000)
    finally:
        provider.stop()

    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print("| what | median | p99 | n |\n| --- | ---: | ---: | ---: |")
    names = {
        "verify": "JWT verification (RS256 + claims, JWKS cached)",
        "bearer_seen": "DRF auth, Bearer JWT already seen (1 query)",
        "token": "DRF auth, product Token (named hashed key, ApiTokenAuthentication)",
        "bearer_first": "DRF auth, Bearer JWT first seen (verify + user and mapping)",
        "e2e_token": "GET /api/v1/tenants with Token",
        "e2e_bearer": "GET /api/v1/tenants with Bearer JWT (seen)",
        "rotation": "first verification after a key rotation (JWKS refetch)",
    }
    for key, name in names.items():
        print(row(name, results[key]))
    for name, samples in (
        ("sign-in: our redirect to the provider", start_ms),
        ("sign-in: the provider (authorize, login page, POST, redirects)", provider_ms),
        ("sign-in: our callback (code exchange, ID token, user, session)", callback_ms),
        ("sign-in: whole round trip", total_ms),
    ):
        print(row(name, samples))
    median = statistics.median
    print(f"\nBearer seen / Token (auth class): {median(results['bearer_seen']) / median(results['token']):.2f}x")
    print(f"Bearer / Token (end to end): {median(results['e2e_bearer']) / median(results['e2e_token']):.2f}x")
    print(f"Bearer first seen / seen: {median(results['bearer_first']) / median(results['bearer_seen']):.1f}x")


if __name__ == "__main__":
    main()
