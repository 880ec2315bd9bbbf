"""Talking to the API for the driver: namespaces on demand, server-side apply under one field manager, deletes,
and one label-selected list per kind per pass for all of a cluster's jobs (the list's resourceVersion is kept, so a
pass can tell how fresh its view was)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.rest import ApiException

from jobs.drivers.kubernetes.manifests import FIELD_MANAGER, MANAGED_BY

APPLY = "application/apply-patch+yaml"
TIMEOUT = (5, 30)
LABEL_CLUSTER = "usecase-foundry.io/cluster"

_known_namespaces: set[tuple[str, str]] = set()
_last_versions: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def ensure_namespace(api: client.ApiClient, *, cluster_id, name: str, labels: dict) -> None:
    """Create the project's namespace the first time a job needs it (labelled; an existing one is fine)."""
    key = (str(cluster_id), name)
    if key in _known_namespaces:
        return
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    client.CoreV1Api(api).patch_namespace(
        name, body, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY, _request_timeout=TIMEOUT
    )
    with _lock:
        _known_namespaces.add(key)


def forget_namespace(cluster_id, name: str) -> None:
    with _lock:
        _known_namespaces.discard((str(cluster_id), name))


def apply(api: client.ApiClient, manifest: dict) -> dict:
    """Server-side apply of one object (force: the product owns the fields it sets)."""
    kind = manifest["kind"]
    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    kwargs = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY, "_request_timeout": TIMEOUT}
    if kind == "Deployment":
        result = client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, manifest, **kwargs)
    elif kind == "Service":
        result = client.CoreV1Api(api).patch_namespaced_service(name, namespace, manifest, **kwargs)
    elif kind == "PersistentVolumeClaim":
        result = client.CoreV1Api(api).patch_namespaced_persistent_volume_claim(name, namespace, manifest, **kwargs)
    else:
        raise ValueError(f"The driver does not apply {kind} objects.")
    return api.sanitize_for_serialization(result)


def scale(api: client.ApiClient, *, namespace: str, name: str, replicas: int) -> None:
    """Set a Deployment's replicas through its scale subresource (an apply of only `replicas` under our field
    manager would give up every other field it owns)."""
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        name, namespace, {"spec": {"replicas": replicas}}, field_manager=FIELD_MANAGER, _request_timeout=TIMEOUT
    )


def delete(api: client.ApiClient, *, kind: str, namespace: str, name: str) -> bool:
    """Delete one object (its Pods follow through the garbage collector); False when it was already gone."""
    body = client.V1DeleteOptions(propagation_policy="Background")
    try:
        if kind == "Deployment":
            client.AppsV1Api(api).delete_namespaced_deployment(name, namespace, body=body, _request_timeout=TIMEOUT)
        elif kind == "Service":
            client.CoreV1Api(api).delete_namespaced_service(name, namespace, body=body, _request_timeout=TIMEOUT)
        elif kind == "PersistentVolumeClaim":
            client.CoreV1Api(api).delete_namespaced_persistent_volume_claim(
                name, namespace, body=body, _request_timeout=TIMEOUT
            )
        else:
            raise ValueError(f"The driver does not delete {kind} objects.")
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@dataclass
class Snapshot:
    """What one pass read of the cluster's objects: by kind, then by (namespace, name)."""

    deployments: dict = field(default_factory=dict)
    services: dict = field(default_factory=dict)
    pods_by_job: dict = field(default_factory=dict)  # job id -> [pod]
    releases: dict = field(default_factory=dict)  # (namespace, release) -> status of its newest revision


def _list(cluster_id, kind: str, call, **kwargs):
    """A consistent list (read from etcd, so it sees every write made before it). A list from the watch cache
    (`resourceVersionMatch=NotOlderThan` with the last version seen) was tried: a 1.20 apiserver answers 504 when the
    newest version is from another kind, as its cache of this kind has no progress notifications."""
    result = call(_request_timeout=TIMEOUT, **kwargs)
    with _lock:
        _last_versions[(str(cluster_id), kind)] = result.metadata.resource_version
    return result.items


def read(api: client.ApiClient, *, cluster_id, helm_namespaces: set) -> Snapshot:
    """The cluster's objects of this product cluster: three list calls per pass however many jobs it runs, plus one
    per namespace with a Helm release in flight."""
    selector = f"{LABEL_CLUSTER}={cluster_id}"
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    snapshot = Snapshot()
    for item in _list(cluster_id, "deployments", apps.list_deployment_for_all_namespaces, label_selector=selector):
        snapshot.deployments[(item.metadata.namespace, item.metadata.name)] = item
    for item in _list(cluster_id, "services", core.list_service_for_all_namespaces, label_selector=selector):
        snapshot.services[(item.metadata.namespace, item.metadata.name)] = item
    for item in _list(cluster_id, "pods", core.list_pod_for_all_namespaces, label_selector=selector):
        job_id = (item.metadata.labels or {}).get("usecase-foundry.io/job")
        snapshot.pods_by_job.setdefault(job_id, []).append(item)
    # Helm's release records: one Secret per revision, labelled owner=helm, name=<release>, status=<status>.
    newest: dict = {}
    for namespace in sorted(helm_namespaces):
        call = lambda namespace=namespace, **kw: core.list_namespaced_secret(namespace, **kw)  # noqa: E731
        for item in _list(cluster_id, f"releases/{namespace}", call, label_selector="owner=helm"):
            labels = item.metadata.labels or {}
            key = (item.metadata.namespace, labels.get("name"))
            version = int(labels.get("version", "0") or 0)
            if version >= newest.get(key, (-1, ""))[0]:
                newest[key] = (version, labels.get("status", ""))
    snapshot.releases = {key: status for key, (_, status) in newest.items()}
    return snapshot


def cluster_labels(cluster_id) -> dict:
    return {**MANAGED_BY, LABEL_CLUSTER: str(cluster_id)}
