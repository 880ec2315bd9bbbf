"""Kubernetes objects for a job (pure: no cluster, no database): Deployment, Service and PVC for `docker` and
`model` specs, the values of a Helm release for `helm` specs, checked by the job layer's safety rules and by the
Kubernetes OpenAPI schema before anything is sent."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate

from core.exceptions import ValidationError
from jobs.validation import dns_label, unsafe_message, unsafe_paths

FIELD_MANAGER = "usecase-foundry"
MANAGED_BY = {"app.kubernetes.io/managed-by": FIELD_MANAGER}
LABEL_JOB = "usecase-foundry.io/job"
LABEL_DEPLOYMENT = "usecase-foundry.io/deployment"
LABEL_COMPONENT = "usecase-foundry.io/component"
LABEL_COMPONENT_DEPLOYMENT = "usecase-foundry.io/component-deployment"
LABEL_TENANT = "usecase-foundry.io/tenant"
LABEL_PROJECT = "usecase-foundry.io/project"
# Rendered manifests are checked against this Kubernetes version's schema (strict: unknown fields are errors).
SCHEMA_VERSION = "1.33"
DEFAULT_PORTS = {"docker": 8080, "model": 8000, "helm": 80}
DEFAULT_MOUNT_PATH = "/data"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")


@dataclass
class Target:
    """Where and how a job runs on a cluster: namespace, object name, labels and the cluster's GPU settings."""

    namespace: str
    name: str
    labels: dict
    gpu_resource: str = "nvidia.com/gpu"
    gpu_label: str = "nvidia.com/gpu.product"
    gpu_products: list = field(default_factory=list)  # node label values of the job's GPU type
    storage_class: str | None = None


def namespace_for(*, project_id, project_name: str) -> str:
    """One namespace per project (a project belongs to one tenant): readable, and unique by the id's prefix."""
    base = dns_label(f"ucf-{project_name}", fallback="ucf")[:50].strip("-")
    return f"{base}-{str(project_id).replace('-', '')[:8]}"


def object_name(job_name: str, job_id) -> str:
    return dns_label(job_name, fallback=f"job-{str(job_id)[:8]}")[:52].strip("-")


def job_labels(job) -> dict:
    """Labels on every object of a job, so they can always be found (and garbage-collected) by job, deployment
    and component."""
    labels = {
        **MANAGED_BY,
        LABEL_JOB: str(job.pk),
        LABEL_TENANT: str(job.tenant_id),
        LABEL_PROJECT: str(job.project_id),
    }
    if job.usecase_deployment_id:
        labels[LABEL_DEPLOYMENT] = str(job.usecase_deployment_id)
    if job.component_deployment_id:
        labels[LABEL_COMPONENT_DEPLOYMENT] = str(job.component_deployment_id)
    component = (job.labels or {}).get("usecase.component")
    if component:
        labels[LABEL_COMPONENT] = dns_label(str(component), fallback="component")
    return labels


def port_of(spec: dict) -> int:
    return int(spec.get("port") or DEFAULT_PORTS.get(spec.get("kind"), 8080))


def storage_request(spec: dict) -> tuple[str, str] | None:
    """(size, mount path) when the job asks for storage (`spec.storage`, which the resolver fills from a
    component's `persistence.size`, as the catalog's vector databases have)."""
    storage = spec.get("storage")
    if not isinstance(storage, dict) or not storage.get("size"):
        return None
    size = str(storage["size"])
    if not _QUANTITY.match(size):
        raise ValidationError({"spec.storage.size": f"{size!r} is not a storage quantity like 50Gi."})
    return size, str(storage.get("mount_path") or DEFAULT_MOUNT_PATH)


def _cpu(value: float) -> str:
    return f"{max(1, round(float(value) * 1000))}m"


def _memory(value: float) -> str:
    return f"{max(1, round(float(value) * 1024))}Mi"


def container_resources(resources: dict, gpu_resource: str) -> dict:
    """Requests for CPU and memory, and GPUs whose limit equals their request (Kubernetes requires it)."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.get("cpu"):
        requests["cpu"] = _cpu(resources["cpu"])
    if resources.get("memory_gib"):
        requests["memory"] = limits["memory"] = _memory(resources["memory_gib"])
    gpus = int(resources.get("gpu_count") or 0)
    if gpus:
        requests[gpu_resource] = limits[gpu_resource] = str(gpus)
    return {"requests": requests, "limits": limits}


def _env_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _container(spec: dict, resources: dict, target: Target, mount: str | None) -> dict:
    kind = spec["kind"]
    port = port_of(spec)
    if kind == "model":
        image = spec.get("image") or ""
        args = ["--model", str(spec.get("model_id")), *[str(a) for a in spec.get("args") or ()]]
    else:
        image = f"{spec['image']}:{spec['tag']}" if spec.get("tag") else spec["image"]
        args = [str(a) for a in spec.get("args") or ()]
    env = [
        {"name": str(k), "value": str(v).lower() if isinstance(v, bool) else str(v)}
        for k, v in (spec.get("env") or {}).items()
    ]
    if kind == "model" and not any(e["name"] == "MODEL_ID" for e in env):
        env.append({"name": "MODEL_ID", "value": str(spec.get("model_id"))})
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": env,
        "resources": container_resources(resources, target.gpu_resource),
        "securityContext": {"privileged": False, "allowPrivilegeEscalation": False},
    }
    if args:
        container["args"] = args
    health = spec.get("health_check_path")
    if health:
        container["readinessProbe"] = {
            "httpGet": {"path": str(health), "port": port},
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
    if mount:
        container["volumeMounts"] = [{"name": "data", "mountPath": mount}]
    return container


def gpu_affinity(target: Target) -> dict:
    """Required node affinity to the nodes whose GPU product label is one of the job's GPU type."""
    term = {"matchExpressions": [{"key": target.gpu_label, "operator": "In", "values": sorted(target.gpu_products)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def render_workload(*, spec: dict, resources: dict, target: Target) -> list[dict]:
    """The objects of a docker/model job, in the order they are applied: PVC, Service, Deployment."""
    selector = {LABEL_JOB: target.labels[LABEL_JOB]}
    meta = {"name": target.name, "namespace": target.namespace, "labels": dict(target.labels)}
    objects: list[dict] = []
    storage = storage_request(spec)
    if storage:
        pvc_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage[0]}},
        }
        if target.storage_class:
            pvc_spec["storageClassName"] = target.storage_class
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": pvc_spec})
    port = port_of(spec)
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            },
        }
    )
    pod_spec: dict[str, Any] = {
        "containers": [_container(spec, resources, target, storage[1] if storage else None)],
        "automountServiceAccountToken": False,
    }
    if int(resources.get("gpu_count") or 0):
        pod_spec["affinity"] = gpu_affinity(target)
        # GPU nodes are commonly tainted so that only GPU workloads land there.
        pod_spec["tolerations"] = [{"key": target.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
    if storage:
        pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": target.name}}]
    objects.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": int(resources.get("replicas", 1)),
                "selector": {"matchLabels": selector},
                # New pods become ready before old ones go (the rollout the deployment layer also does per part).
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"metadata": {"labels": dict(target.labels)}, "spec": pod_spec},
            },
        }
    )
    return [copy.deepcopy(o) for o in objects]


def helm_values(*, spec: dict, resources: dict, target: Target) -> dict:
    """The release's values: the component's own, plus the common labels the chart may use."""
    values = copy.deepcopy(spec.get("values") or {})
    values.setdefault("commonLabels", {}).update(target.labels)
    return values


def check_manifest(manifest: dict, *, path: str = "manifest") -> None:
    """The job layer's refusals (host namespaces, privileged) on a rendered object, then its OpenAPI schema."""
    errors: dict[str, list[str]] = {}
    for where, key in unsafe_paths(manifest, path):
        errors.setdefault(where, []).append(unsafe_message(key))
    if not errors:
        try:
            kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join([path, *(str(p) for p in exc.path)])
            errors[where] = [f"{manifest.get('kind')} {manifest['metadata'].get('name')}: {exc.message}"]
    if errors:
        raise ValidationError(errors)


def check_manifests(manifests: list[dict]) -> None:
    errors: dict[str, list[str]] = {}
    for manifest in manifests:
        try:
            check_manifest(manifest, path=f"manifests.{manifest.get('kind')}")
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
