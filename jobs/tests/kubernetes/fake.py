"""The test control plane's pieces shared by the tests and bench/k8s_bench.py: start/stop through
scripts/k8s-test-cluster/cluster.sh, fake GPU nodes, and a fake kubelet that marks bound Pods Running/Ready and
finishes the deletion of terminating ones."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts" / "k8s-test-cluster"
CHARTS = Path(__file__).resolve().parent / "charts"
CACHE = Path(os.environ.get("UCF_K8S_CACHE", "/var/cache/usecase-foundry"))
BIN = Path(os.environ.get("UCF_K8S_BIN", CACHE / "k8s-1.20.2" / "bin"))
TOOLS = CACHE / "tools-2.2.2" / "bin"

# The GPU types simple-rag-v1's components ask for today (vLLM: A100-80GB, TEI: L4) besides the H100 nodes.
GPU_PRODUCTS = {
    "NVIDIA-H100-80GB-HBM3": "H100-80GB",
    "NVIDIA-A100-SXM4-80GB": "A100-80GB",
    "NVIDIA-L4": "L4",
}
NODES = [
    ("gpu-h100-0", "NVIDIA-H100-80GB-HBM3", 8),
    ("gpu-h100-1", "NVIDIA-H100-80GB-HBM3", 8),
    ("gpu-a100-0", "NVIDIA-A100-SXM4-80GB", 4),
    ("gpu-l4-0", "NVIDIA-L4", 4),
    ("cpu-0", None, 0),
]


def missing() -> str | None:
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        if not (BIN / name).exists():
            return f"no {BIN / name}: run scripts/k8s-test-cluster/build.sh to build the test control plane"
    if not shutil.which("etcd"):
        return "no etcd: run scripts/k8s-test-cluster/build.sh (installs etcd-server)"
    if not (TOOLS / "helm").exists():
        return f"no {TOOLS / 'helm'}: run scripts/k8s-test-cluster/tools.sh"
    return None


class ControlPlane:
    def __init__(self, folder: Path):
        self.folder = folder
        self.kubeconfig = (folder / "kubeconfig").read_text()
        self.start_ms = int((folder / "start_ms").read_text())
        configuration = client.Configuration()
        kube_config.load_kube_config_from_dict(yaml.safe_load(self.kubeconfig), client_configuration=configuration)
        self.api = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.server = configuration.host


def _node(name: str, product: str | None, gpus: int) -> dict:
    labels = {"kubernetes.io/hostname": name}
    if product:
        labels["nvidia.com/gpu.product"] = product
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def add_nodes(plane: ControlPlane) -> None:
    """Fake nodes: capacity/allocatable with GPUs, a Ready condition, and no not-ready taint."""
    for name, product, gpus in NODES:
        try:
            plane.core.create_node(_node(name, product, gpus))
        except ApiException as exc:
            if exc.status != 409:
                raise
        capacity = {"cpu": "64", "memory": "512Gi", "pods": "110"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "fake kubelet",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        plane.core.patch_node_status(
            name, {"status": {"capacity": capacity, "allocatable": capacity, "conditions": [ready]}}
        )
        plane.core.patch_node(name, {"spec": {"taints": None}})


class FakeKubelet(threading.Thread):
    """Plays the kubelet of every fake node: bound Pods become Running and Ready (unless their namespace is held),
    terminating Pods are removed at once; and a storage provisioner (a volume for every pending claim)."""

    def __init__(self, plane: ControlPlane):
        super().__init__(daemon=True, name="fake-kubelet")
        self.plane = plane
        self.stopped = threading.Event()
        self.held: set[str] = set()

    def run(self) -> None:
        while not self.stopped.is_set():
            # A race with a deletion, or the apiserver busy: the next step tries again.
            with contextlib.suppress(Exception):
                self.step()
            self.stopped.wait(0.2)

    def provision(self) -> None:
        """Play a storage provisioner: a PersistentVolume for every pending claim, reserved for it (the
        controller-manager's PV controller binds the two, and the scheduler then places the Pod)."""
        for claim in self.plane.core.list_persistent_volume_claim_for_all_namespaces().items:
            if claim.spec.volume_name or claim.metadata.deletion_timestamp:
                continue
            name = f"pv-{claim.metadata.uid}"
            volume = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": claim.spec.resources.requests["storage"]},
                    "accessModes": claim.spec.access_modes,
                    "persistentVolumeReclaimPolicy": "Delete",
                    "hostPath": {"path": f"/tmp/{name}"},
                    "claimRef": {
                        "namespace": claim.metadata.namespace,
                        "name": claim.metadata.name,
                        "uid": claim.metadata.uid,
                    },
                },
            }
            with contextlib.suppress(ApiException):
                self.plane.core.create_persistent_volume(volume)

    def step(self) -> None:
        self.provision()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for pod in self.plane.core.list_pod_for_all_namespaces().items:
            if pod.metadata.deletion_timestamp:
                with contextlib.suppress(ApiException):
                    self.plane.core.delete_namespaced_pod(
                        pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                    )
                continue
            if not pod.spec.node_name or pod.metadata.namespace in self.held or pod.status.phase == "Running":
                continue
            statuses = [
                {
                    "name": c.name,
                    "image": c.image,
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
                for c in pod.spec.containers
            ]
            conditions = [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ]
            self.plane.core.patch_namespaced_pod_status(
                pod.metadata.name,
                pod.metadata.namespace,
                {
                    "status": {
                        "phase": "Running",
                        "conditions": conditions,
                        "containerStatuses": statuses,
                        "hostIP": "10.0.0.1",
                        "podIP": "10.244.0.10",
                        "startTime": now,
                    }
                },
            )


def start_control_plane() -> ControlPlane:
    started = subprocess.run(
        [str(SCRIPTS / "cluster.sh"), "start"], capture_output=True, text=True, timeout=180, check=False
    )
    if started.returncode != 0:
        raise RuntimeError(f"the test control plane did not start: {started.stderr[-3000:]}")
    return ControlPlane(Path(started.stdout.strip().splitlines()[-1]))


def stop_control_plane(plane: ControlPlane) -> None:
    subprocess.run(
        [str(SCRIPTS / "cluster.sh"), "stop", str(plane.folder)], capture_output=True, timeout=60, check=False
    )
