"""Rendering and checking manifests (no cluster needed): GPU limits, affinity, storage, refusals, the schema."""

from __future__ import annotations

import pytest

from core.exceptions import ValidationError
from jobs.drivers.kubernetes.manifests import LABEL_JOB, Target, check_manifest, check_manifests, render_workload

TARGET = Target(namespace="ucf-a-12345678", name="rag-llm", labels={LABEL_JOB: "j1"}, gpu_products=["NVIDIA-L4", "L4"])
SPEC = {
    "kind": "docker",
    "image": "ghcr.io/acme/app",
    "tag": "1.0",
    "port": 8080,
    "health_check_path": "/healthz",
    "env": {"A": "1", "DEBUG": True},
}
GPU = {"gpu_type": "L4", "gpu_count": 2, "cpu": 4, "memory_gib": 16, "replicas": 3}


def by_kind(objects):
    return {o["kind"]: o for o in objects}


def test_a_gpu_workload_asks_for_gpus_with_limits_equal_to_requests_on_nodes_of_its_type():
    objects = by_kind(render_workload(spec=SPEC, resources=GPU, target=TARGET))
    assert set(objects) == {"Service", "Deployment"}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "4000m", "memory": "16384Mi", "nvidia.com/gpu": "2"}
    assert resources["limits"] == {"memory": "16384Mi", "nvidia.com/gpu": "2"}
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["L4", "NVIDIA-L4"]}
    ]
    assert objects["Deployment"]["spec"]["replicas"] == 3
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "true"}]
    assert pod["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    check_manifests(list(objects.values()))


def test_storage_becomes_a_pvc_mounted_into_the_container():
    spec = {**SPEC, "storage": {"size": "50Gi", "mount_path": "/qdrant/storage"}}
    objects = render_workload(spec=spec, resources={"cpu": 1, "memory_gib": 1, "replicas": 1}, target=TARGET)
    assert [o["kind"] for o in objects] == ["PersistentVolumeClaim", "Service", "Deployment"]
    assert objects[0]["spec"]["resources"] == {"requests": {"storage": "50Gi"}}
    pod = objects[2]["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/qdrant/storage"}]
    assert "affinity" not in pod
    check_manifests(objects)


def test_a_storage_size_that_is_not_a_quantity_is_refused():
    with pytest.raises(ValidationError) as raised:
        render_workload(spec={**SPEC, "storage": {"size": "fifty"}}, resources=GPU, target=TARGET)
    assert list(raised.value.errors) == ["spec.storage.size"]


def test_a_privileged_container_in_a_rendered_manifest_is_refused():
    deployment = by_kind(render_workload(spec=SPEC, resources=GPU, target=TARGET))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    with pytest.raises(ValidationError) as raised:
        check_manifest(deployment)
    assert list(raised.value.errors) == ["manifest.spec.template.spec.containers.0.securityContext.privileged"]


def test_a_manifest_the_schema_does_not_allow_is_refused_with_its_path():
    deployment = by_kind(render_workload(spec=SPEC, resources=GPU, target=TARGET))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["gpus"] = 2
    with pytest.raises(ValidationError) as raised:
        check_manifest(deployment)
    assert list(raised.value.errors) == ["manifest.spec.template.spec.containers.0"]
    assert "'gpus' was unexpected" in raised.value.errors["manifest.spec.template.spec.containers.0"][0]
