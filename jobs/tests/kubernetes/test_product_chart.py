"""UseCase Foundry's own Helm chart (deploy/helm/usecase-foundry) installed on the test control plane: the migration
Job runs first with the right Pod spec, then the Deployments and the Service are created, and the ServiceAccount
gets exactly the rights the Kubernetes driver needs. The test plays the kubelet of the product's pods."""

from __future__ import annotations

import contextlib
import subprocess
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from core.tests.helm import CHART

NAMESPACE = "foundry-chart"
RELEASE = "foundry"
NAME = f"{RELEASE}-usecase-foundry"
IMAGE = "registry.test/usecase-foundry"


def poll(what: str, read, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finish_pod(core: client.CoreV1Api, pod) -> None:
    """What a kubelet reports when a container exits 0."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    terminated = {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}
    statuses = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": terminated},
        }
        for c in pod.spec.containers
    ]
    core.patch_namespaced_pod_status(
        pod.metadata.name,
        NAMESPACE,
        {"status": {"phase": "Succeeded", "containerStatuses": statuses, "startTime": now}},
    )


def can(plane, verb: str, resource: str, *, group: str = "", namespace: str = "project-a") -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{NAMESPACE}:{NAME}",
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=None if resource == "namespaces" else namespace
            ),
        )
    )
    return client.AuthorizationV1Api(plane.api).create_subject_access_review(review).status.allowed


@pytest.fixture
def product_namespace(control_plane, helm_on_path, tmp_path):
    core = control_plane.core
    control_plane.kubelet.held.add(NAMESPACE)  # this test is the kubelet of the product's pods
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    core.create_namespaced_secret(
        NAMESPACE,
        {
            "metadata": {"name": f"{NAME}-config"},
            "stringData": {
                "SECRET_KEY": "s" * 50,
                "FIELD_ENCRYPTION_KEYS": "f" * 43 + "=",
                "DATABASE_URL": "postgres://foundry:pw@postgres.test:5432/foundry",
                "REDIS_URL": "redis://redis.test:6379/0",
                "ADMIN_PASSWORD": "admin-password",
            },
        },
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(control_plane.kubeconfig)
    kubeconfig.chmod(0o600)
    yield [helm_on_path, "--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE]
    subprocess.run(
        [helm_on_path, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "uninstall", RELEASE],
        capture_output=True,
        check=False,
    )
    with contextlib.suppress(ApiException):
        core.delete_namespace(NAMESPACE)
    control_plane.kubelet.held.discard(NAMESPACE)


def test_chart_installs_with_the_migration_job_first(control_plane, product_namespace):
    core, apps, batch = control_plane.core, control_plane.apps, client.BatchV1Api(control_plane.api)
    install = subprocess.Popen(
        [
            *product_namespace,
            "install",
            RELEASE,
            str(CHART),
            "--timeout",
            "180s",
            "--set",
            f"image.repository={IMAGE}",
            "--set",
            "image.tag=1.2.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        selector = f"job-name={NAME}-migrate"
        pod = poll(
            "the migration Job's Pod", lambda: core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        )[0]
        # the hook runs before anything of the release exists
        assert apps.list_namespaced_deployment(NAMESPACE).items == []
        spec = pod.spec
        (migrate,) = spec.containers
        assert migrate.image == f"{IMAGE}:1.2.3"
        assert migrate.command == ["python", "manage.py", "bootstrap"]
        assert [(e.config_map_ref or e.secret_ref).name for e in migrate.env_from] == [f"{NAME}-env", f"{NAME}-config"]
        assert migrate.resources.requests == {"cpu": "250m", "memory": "512Mi"}
        assert migrate.security_context.allow_privilege_escalation is False
        assert spec.restart_policy == "Never"
        assert spec.automount_service_account_token is False
        assert spec.security_context.run_as_non_root is True
        configmap = core.read_namespaced_config_map(f"{NAME}-env", NAMESPACE).data
        assert configmap["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        job = batch.read_namespaced_job(f"{NAME}-migrate", NAMESPACE)
        assert job.metadata.annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        finish_pod(core, pod)
        output, _ = install.communicate(timeout=180)
    finally:
        if install.poll() is None:
            install.kill()
    assert install.returncode == 0, output
    assert "STATUS: deployed" in output

    assert batch.read_namespaced_job(f"{NAME}-migrate", NAMESPACE).status.succeeded == 1
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(NAMESPACE).items}
    assert set(deployments) == {f"{NAME}-web", f"{NAME}-worker", f"{NAME}-beat"}
    assert deployments[f"{NAME}-web"].spec.replicas == 2
    assert deployments[f"{NAME}-worker"].spec.replicas == 2
    beat = deployments[f"{NAME}-beat"]
    assert (beat.spec.replicas, beat.spec.strategy.type) == (1, "Recreate")
    for deployment in deployments.values():
        assert deployment.spec.template.spec.service_account_name == NAME
    (service,) = core.list_namespaced_service(NAMESPACE).items
    assert service.metadata.name == f"{NAME}-web"
    assert service.spec.selector == deployments[f"{NAME}-web"].spec.selector.match_labels
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(80, "http")]

    # the ServiceAccount may do what the driver does, and nothing around it
    assert can(control_plane, "patch", "namespaces")
    assert can(control_plane, "create", "deployments", group="apps")
    assert can(control_plane, "delete", "services")
    assert can(control_plane, "list", "secrets")
    assert not can(control_plane, "get", "secrets")
    assert not can(control_plane, "create", "pods")
    assert not can(control_plane, "delete", "namespaces")
    assert not can(control_plane, "create", "clusterroles", group="rbac.authorization.k8s.io")
