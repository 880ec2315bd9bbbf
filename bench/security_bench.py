"""Security overheads (issue 23): token authentication, the audit trail, throttling, encryption at rest.

    python bench/security_bench.py            # PostgreSQL + Redis (needs both running), 400 rounds per case
    python bench/security_bench.py --quick    # 60 rounds: a smoke run

Creates (and drops) its own PostgreSQL database `uf_bench_security`; the cache is Redis (`BENCH_REDIS_URL`,
default db 7), as in production, so the throttle reads and writes are real round trips.

Each request goes through Django's test Client in process: the whole middleware, authentication, throttle,
view, service and serializer stack, without a network. The cases are interleaved round by round (A, B, A, B, ...)
so machine load hits both sides of each comparison alike; medians and ratios come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "uf_bench_security"


def setup_environment() -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {DB_NAME}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleave(cases: dict, rounds: int) -> dict:
    """Run each case once per round, in turn; the median seconds of each."""
    for call in cases.values():
        for _ in range(3):
            call()
    samples: dict = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            samples[name].append(timed(call))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 60 if args.quick else 400
    setup_environment()

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["testserver"]
    cache.clear()

    from audit import middleware as audit_middleware
    from audit import services as audit_services
    from core.crypto import EncryptedJSONField
    from security.services import token_authenticate, token_create
    from tenancy import services as tenancy_services
    from tenancy.models import Membership, Project, Tenant
    from tenancy.tests.factories import UserFactory

    tenant = Tenant.objects.create(name="Bench")
    user = UserFactory(username="bench-admin")
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    for index in range(20):
        Project.objects.create(tenant=tenant, name=f"p{index:02d}")
    project = Project.objects.get(name="p00")
    _, key = token_create(user=user, owner=user, name="bench", expires_in_days=None)

    session = Client()
    session.force_login(user)
    token = Client(HTTP_AUTHORIZATION=f"Token {key}")
    results: dict = {"rounds": rounds}

    # 1. Token authentication: the same list, signed in by session and by token.
    get = {
        "session": lambda: session.get("/api/v1/projects"),
        "token": lambda: token.get("/api/v1/projects"),
    }
    medians = interleave(get, rounds)
    direct = interleave({"token_authenticate": lambda: token_authenticate(key=key, ip="127.0.0.1")}, rounds)
    results["auth"] = {
        "session_ms": medians["session"] * 1000,
        "token_ms": medians["token"] * 1000,
        "token_minus_session_ms": (medians["token"] - medians["session"]) * 1000,
        "token_over_session": medians["token"] / medians["session"],
        "token_lookup_us": direct["token_authenticate"] * 1e6,
    }

    # 2. Throttling: the same request with the three throttles on (Redis) and off.
    rates = dict(settings.API_THROTTLE_RATES)
    off = {name: None for name in rates}

    def with_rates(value):
        def call():
            settings.API_THROTTLE_RATES = value
            token.get("/api/v1/projects")

        return call

    medians = interleave(
        {"throttled": with_rates({**rates, "user": "1000000/minute"}), "unthrottled": with_rates(off)}, rounds
    )
    settings.API_THROTTLE_RATES = rates
    redis = interleave({"cache_get": lambda: cache.get("bench-probe")}, rounds)
    results["throttle"] = {
        "throttled_ms": medians["throttled"] * 1000,
        "unthrottled_ms": medians["unthrottled"] * 1000,
        "overhead_ms": (medians["throttled"] - medians["unthrottled"]) * 1000,
        "one_cache_get_us": redis["cache_get"] * 1e6,
    }

    # 3. Audit: the same PATCH with the recorder on, and with it replaced by a no-op (service and middleware).
    recorder = audit_services.audit_record
    counter = iter(range(10**9))

    def patch(recording: bool):
        def call():
            audit_middleware.audit_record = recorder if recording else (lambda **kwargs: None)
            tenancy_services.audit_record = recorder if recording else (lambda **kwargs: None)
            body = json.dumps({"description": f"d{next(counter)}"})
            response = token.patch(f"/api/v1/projects/{project.pk}", body, content_type="application/json")
            assert response.status_code == 200, response.content

        return call

    medians = interleave({"audited": patch(True), "unaudited": patch(False)}, rounds)
    audit_middleware.audit_record = tenancy_services.audit_record = recorder
    direct = interleave(
        {
            "audit_record": lambda: recorder(
                action="update", obj=project, before={"description": "a"}, after={"description": "b"}
            )
        },
        rounds,
    )
    results["audit"] = {
        "audited_patch_ms": medians["audited"] * 1000,
        "unaudited_patch_ms": medians["unaudited"] * 1000,
        "overhead_ms": (medians["audited"] - medians["unaudited"]) * 1000,
        "ratio": medians["audited"] / medians["unaudited"],
        "audit_record_us": direct["audit_record"] * 1e6,
    }

    # 4. Encryption at rest: one job spec (a rendered vLLM service with env) through the field, both ways.
    field = EncryptedJSONField(default=dict)
    spec = {
        "image": "vllm/vllm-openai:v0.6.3",
        "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"],
        "env": {f"VAR_{i}": f"value-{i}" * 3 for i in range(20)} | {"HF_TOKEN": "hf_" + "x" * 37},
        "ports": [8000],
        "resources": {"gpu_type": "H100-80GB", "gpu_count": 1, "cpu": 8, "memory_gib": 64},
    }
    stored = field.get_prep_value(spec)
    medians = interleave(
        {"encrypt": lambda: field.get_prep_value(spec), "decrypt": lambda: field.from_db_value(stored, None, None)},
        rounds,
    )
    results["encryption"] = {
        "spec_bytes": len(json.dumps(spec)),
        "stored_bytes": len(stored),
        "encrypt_us": medians["encrypt"] * 1e6,
        "decrypt_us": medians["decrypt"] * 1e6,
    }
    results["load_average_1m"] = os.getloadavg()[0]
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
