"""The Kubernetes driver on the test control plane (issue 16).

    python bench/k8s_bench.py                  # build (cached), control-plane starts, simple-rag-v1 POST -> RUNNING
    python bench/k8s_bench.py --deploys 5 --starts 3 --poll 2.0

Reports:
  - the test control plane's build: the cold build time recorded by scripts/k8s-test-cluster/build.sh when it built
    the cache, and the median wall time of a cached (no-op) run;
  - control-plane start: median of `cluster.sh start` until the apiserver is ready and the default namespace exists
    (etcd, apiserver, controller-manager, scheduler on 127.0.0.1);
  - simple-rag-v1 from POST /api/v1/deployments to RUNNING through a real Celery worker, onto fake GPU nodes whose
    Pods a fake kubelet marks ready (median, min, max of `--deploys` deployments, one after the other).
Uses its own PostgreSQL database `uf_bench_k8s` and Redis db 9 (BENCH_REDIS_URL), like the other benchmarks.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import celery_worker  # noqa: E402

SCRIPTS = ROOT / "scripts" / "k8s-test-cluster"


def timed(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def build_figures(rounds: int) -> dict:
    cached = [timed([str(SCRIPTS / "build.sh")]) for _ in range(rounds)]
    bin_dir = subprocess.run([str(SCRIPTS / "build.sh")], check=True, capture_output=True, text=True).stdout.strip()
    return {"cold": (Path(bin_dir) / ".complete").read_text().strip(), "cached_median_s": statistics.median(cached)}


def start_figures(rounds: int) -> list[float]:
    from jobs.tests.kubernetes.fake import start_control_plane, stop_control_plane

    starts = []
    for _ in range(rounds):
        started = time.monotonic()
        plane = start_control_plane()
        starts.append(time.monotonic() - started)
        stop_control_plane(plane)
    return starts


def setup_environment(poll: float) -> None:
    db = "uf_bench_k8s"
    for sql in (f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "bench-k8s"
    os.environ["KUBERNETES_POLL_SECONDS"] = str(poll)


def start_worker() -> subprocess.Popen:
    worker = celery_worker(name="benchk8s@%h", queue="bench-k8s")
    from core.tasks import ping

    ping.apply_async(("x",), queue="bench-k8s").get(timeout=120)
    return worker


def wait_until(deployment_id, status: str, started: float) -> None:
    from deployments.models import UseCaseDeployment

    while True:
        deployment = UseCaseDeployment.objects.get(pk=deployment_id)
        if deployment.status == status:
            return
        if deployment.status == "FAILED" or time.monotonic() - started > 300:
            raise SystemExit(f"deployment {deployment_id}: {deployment.status} {deployment.status_message}")
        time.sleep(0.05)


def deploy_figures(count: int) -> tuple[list[float], list[float]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from components.models import ComponentDefinition
    from config.celery_app import app
    from deployments.tests.factories import SIMPLE_RAG_PARAMS
    from jobs.services import cluster_check, cluster_create
    from jobs.tests.kubernetes.fake import GPU_PRODUCTS, FakeKubelet, add_nodes, start_control_plane, stop_control_plane
    from tenancy.models import Membership, Project, Tenant

    call_command("migrate", verbosity=0)
    call_command("seed_templates", verbosity=0)
    # As in the tests: the catalog's Qdrant Helm chart cannot be fetched offline, so it runs from its image.
    ComponentDefinition.objects.filter(id="qdrant").update(deployment_type="DOCKER")
    app.control.purge()
    plane = start_control_plane()
    kubelet = FakeKubelet(plane)
    worker = None
    try:
        add_nodes(plane)
        kubelet.start()
        tenant = Tenant.objects.create(name="bench")
        user = get_user_model().objects.create_user(username="bench", password="x")
        Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
        cluster = cluster_create(
            tenant=tenant,
            name="k8s",
            driver="kubernetes",
            kubeconfig=plane.kubeconfig,
            kubernetes={"gpu_products": GPU_PRODUCTS},
            simulation={},
        )
        assert cluster_check(cluster=cluster, user=None)["ok"]
        worker = start_worker()
        client = APIClient()
        client.force_authenticate(user)
        times, deletes = [], []
        for index in range(count):
            project = Project.objects.create(tenant=tenant, name=f"bench-{index}")
            body = {
                "template_id": "simple-rag-v1",
                "project_id": str(project.pk),
                "cluster_id": str(cluster.pk),
                "parameters": SIMPLE_RAG_PARAMS,
            }
            started = time.monotonic()
            response = client.post("/api/v1/deployments", body, format="json")
            assert response.status_code == 201, response.json()
            deployment_id = response.json()["id"]
            wait_until(deployment_id, "RUNNING", started)
            times.append(time.monotonic() - started)
            # Deleted before the next one: the fake nodes hold four A100s and four L4s, enough for one stack at
            # a time with room to spare (and the delete is measured too).
            started = time.monotonic()
            assert client.delete(f"/api/v1/deployments/{deployment_id}").status_code in (200, 202, 204)
            wait_until(deployment_id, "DELETED", started)
            deletes.append(time.monotonic() - started)
        return times, deletes
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        kubelet.stopped.set()
        stop_control_plane(plane)


def main() -> None:
    # Stopped from outside, the control plane, the kubelet and the worker it started still go (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--poll", type=float, default=2.0, help="KUBERNETES_POLL_SECONDS for the worker")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    build = build_figures(3)
    print(f"load average at start: {load:.2f}")
    print(f"build, cold (recorded by build.sh): {build['cold']}")
    print(f"build, cached run: median {build['cached_median_s']:.3f} s of 3")
    setup_environment(args.poll)
    starts = start_figures(args.starts)
    print(
        f"control-plane start: median {statistics.median(starts):.2f} s, min {min(starts):.2f}, max {max(starts):.2f}"
        f" ({args.starts} starts)"
    )
    times, deletes = deploy_figures(args.deploys)
    for label, values in (("POST -> RUNNING", times), ("DELETE -> DELETED", deletes)):
        print(
            f"simple-rag-v1 {label} (poll {args.poll:g} s): median {statistics.median(values):.2f} s, "
            f"min {min(values):.2f}, max {max(values):.2f} ({args.deploys} deployments: "
            f"{', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
