"""A real Kubernetes control plane for the driver's tests (scripts/k8s-test-cluster/cluster.sh): kube-apiserver,
etcd, controller-manager and scheduler 1.20.2 on 127.0.0.1, fake GPU nodes, and a fake kubelet that marks bound
Pods Running/Ready and finishes the deletion of terminating ones. Skipped with the reason where the binaries are
missing (run scripts/k8s-test-cluster/build.sh)."""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from jobs.models import Cluster
from jobs.services import cluster_check, cluster_create
from jobs.tests.kubernetes.fake import (
    CHARTS,
    GPU_PRODUCTS,
    TOOLS,
    FakeKubelet,
    add_nodes,
    missing,
    start_control_plane,
    stop_control_plane,
)


@pytest.fixture(scope="session")
def control_plane():
    reason = missing()
    if reason and os.environ.get("UCF_REQUIRE_K8S"):
        pytest.fail(f"UCF_REQUIRE_K8S is set but {reason}")
    if reason:
        pytest.skip(reason)
    try:
        plane = start_control_plane()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    kubelet = FakeKubelet(plane)
    try:
        add_nodes(plane)
        kubelet.start()
        plane.kubelet = kubelet
        yield plane
    finally:
        kubelet.stopped.set()
        stop_control_plane(plane)


@pytest.fixture(scope="session")
def helm_on_path(control_plane):
    """helm from tools.sh, for the driver (HELM_BINARY)."""
    return str(TOOLS / "helm")


@pytest.fixture(scope="session")
def chart_repo(helm_on_path):
    """The tests' small chart in an HTTPS chart repository on 127.0.0.1 (a self-signed certificate that helm
    trusts through SSL_CERT_FILE), since the driver only installs charts from https:// or oci:// repositories."""
    folder = Path(tempfile.mkdtemp(prefix="ucf-charts-"))
    subprocess.run([helm_on_path, "package", str(CHARTS / "tiny"), "-d", str(folder)], check=True, capture_output=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=charts",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    subprocess.run([helm_on_path, "repo", "index", str(folder), "--url", url], check=True, capture_output=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(folder / "cert.pem")
    try:
        yield url
    finally:
        server.shutdown()
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def k8s_settings(settings, helm_on_path, tmp_path):
    settings.HELM_BINARY = helm_on_path
    settings.KUBERNETES_WORK_DIR = str(tmp_path / "kubernetes")
    settings.KUBERNETES_POLL_SECONDS = 0.3
    return settings


@pytest.fixture
def k8s_cluster(tenant, control_plane, k8s_settings):
    """A product cluster on the test control plane, its inventory read by the connection check's service."""
    cluster = cluster_create(
        tenant=tenant,
        name="k8s-test",
        driver=Cluster.Driver.KUBERNETES,
        kubeconfig=control_plane.kubeconfig,
        kubernetes={"gpu_products": GPU_PRODUCTS},
        prices={"gpu_hour": {}, "cpu_hour": 0.02, "memory_gib_hour": 0.003},
        simulation={},
    )
    result = cluster_check(cluster=cluster, user=None)
    assert result["ok"], result
    cluster.refresh_from_db()
    return cluster
