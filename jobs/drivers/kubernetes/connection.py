"""Reaching a Kubernetes cluster: an API client from the cluster's kubeconfig (or in-cluster credentials), errors
a person can act on, and the inventory read from the nodes."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import urllib3
import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from core.exceptions import ServiceError

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_GPU_LABEL = "nvidia.com/gpu.product"
REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)

_clients: dict[tuple, client.ApiClient] = {}
_clients_lock = threading.Lock()


class ClusterUnavailable(ServiceError):
    """The cluster cannot be reached or refuses our credentials (`reason`: unreachable, unauthorised, forbidden,
    misconfigured, no_gpu_nodes)."""

    status_code = 502
    default_detail = "The cluster cannot be used."

    def __init__(self, detail: str, *, reason: str):
        super().__init__(detail, errors={"cluster": [detail]})
        self.reason = reason


@dataclass
class Settings:
    """A Kubernetes cluster's settings (Cluster.kubernetes), with the defaults filled in."""

    in_cluster: bool = False
    gpu_resource: str = DEFAULT_GPU_RESOURCE
    gpu_label: str = DEFAULT_GPU_LABEL
    gpu_products: dict = field(default_factory=dict)  # node label value -> catalog GPU type
    storage_class: str | None = None

    @classmethod
    def of(cls, cluster) -> Settings:
        raw = cluster.kubernetes or {}
        return cls(
            in_cluster=bool(raw.get("in_cluster", False)),
            gpu_resource=raw.get("gpu_resource") or DEFAULT_GPU_RESOURCE,
            gpu_label=raw.get("gpu_label") or DEFAULT_GPU_LABEL,
            gpu_products=dict(raw.get("gpu_products") or {}),
            storage_class=raw.get("storage_class") or None,
        )

    def products_of(self, gpu_type: str) -> list[str]:
        """Node label values that mean this catalog GPU type (the type's own name when nothing maps onto it)."""
        return sorted({label for label, mapped in self.gpu_products.items() if mapped == gpu_type} | {gpu_type})

    def gpu_type_of(self, product: str) -> str:
        return self.gpu_products.get(product, product)


def api_client(cluster) -> client.ApiClient:
    """A client for the cluster, cached per process and per credentials (a new kubeconfig makes a new client)."""
    settings = Settings.of(cluster)
    secret = "" if settings.in_cluster else (cluster.kubeconfig or "")
    key = (str(cluster.pk), settings.in_cluster, hashlib.sha256(secret.encode()).hexdigest())
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
    configuration = client.Configuration()
    try:
        if settings.in_cluster:
            kube_config.load_incluster_config(client_configuration=configuration)
        elif not secret:
            raise ClusterUnavailable(
                "The cluster has no kubeconfig and does not use in-cluster credentials.", reason="misconfigured"
            )
        else:
            loader = kube_config.kube_config.KubeConfigLoader(config_dict=yaml.safe_load(secret))
            loader.load_and_set(configuration)
    except kube_config.ConfigException as exc:
        raise ClusterUnavailable(f"The cluster's credentials cannot be used: {exc}", reason="misconfigured") from exc
    configuration.retries = 1
    api = client.ApiClient(configuration)
    with _clients_lock:
        _clients[key] = api
    return api


def kubeconfig_problem(text: str) -> str | None:
    """Why a kubeconfig cannot be used (None when it can): checked when it is stored, before any connection."""
    try:
        data = yaml.safe_load(text)
        kube_config.kube_config.KubeConfigLoader(config_dict=data).load_and_set(client.Configuration())
    except (yaml.YAMLError, kube_config.ConfigException, AttributeError, TypeError, ValueError) as exc:
        return f"Not a usable kubeconfig: {exc}"
    return None


def unavailable(exc: Exception, *, server: str = "") -> ClusterUnavailable:
    """A clear error from what the client raised."""
    where = f" at {server}" if server else ""
    if isinstance(exc, ClusterUnavailable):
        return exc
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return ClusterUnavailable(
                f"The cluster{where} refused the credentials (401 Unauthorized).", reason="unauthorised"
            )
        if exc.status == 403:
            return ClusterUnavailable(
                f"The credentials are valid but not allowed to do this on the cluster{where} (403 Forbidden): "
                f"{_message(exc)}",
                reason="forbidden",
            )
        return ClusterUnavailable(f"The cluster{where} answered {exc.status}: {_message(exc)}", reason="error")
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return ClusterUnavailable(f"The cluster{where} is unreachable: {exc}", reason="unreachable")
    raise exc


def _message(exc: ApiException) -> str:
    try:
        return yaml.safe_load(exc.body).get("message") or exc.reason
    except Exception:
        return str(exc.reason)


def server_of(api: client.ApiClient) -> str:
    return api.configuration.host


def read_inventory(cluster) -> dict:
    """GPUs per catalog type (from node allocatable and the GPU product label), CPU cores and memory of the
    cluster's ready, schedulable nodes: {"gpus", "cpu_cores", "memory_gib", "nodes": [...]}."""
    settings = Settings.of(cluster)
    api = api_client(cluster)
    try:
        nodes = client.CoreV1Api(api).list_node(_request_timeout=REQUEST_TIMEOUT).items
    except Exception as exc:
        raise unavailable(exc, server=server_of(api)) from exc
    gpus: dict[str, int] = {}
    millicores = 0
    memory_bytes = 0
    described = []
    for node in nodes:
        ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
        if not ready or (node.spec and node.spec.unschedulable):
            continue
        allocatable = node.status.allocatable or {}
        millicores += _millicores(allocatable.get("cpu", "0"))
        memory_bytes += _bytes(allocatable.get("memory", "0"))
        count = int(allocatable.get(settings.gpu_resource, "0") or 0)
        product = (node.metadata.labels or {}).get(settings.gpu_label)
        gpu_type = settings.gpu_type_of(product) if product and count else None
        if gpu_type:
            gpus[gpu_type] = gpus.get(gpu_type, 0) + count
        described.append({"name": node.metadata.name, "gpu_type": gpu_type, "gpus": count if gpu_type else 0})
    if not gpus:
        raise ClusterUnavailable(
            f"No ready node offers {settings.gpu_resource} with a {settings.gpu_label} label "
            f"({len(nodes)} nodes, {len(described)} ready and schedulable).",
            reason="no_gpu_nodes",
        )
    return {
        "gpus": dict(sorted(gpus.items())),
        "cpu_cores": round(millicores / 1000, 3),
        "memory_gib": round(memory_bytes / 2**30, 3),
        "nodes": described,
    }


_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "m": 10**-3,
}


def _bytes(quantity: str) -> int:
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * _SUFFIXES[suffix])
    return int(float(quantity))


def _millicores(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return int(float(quantity) * 1000)
