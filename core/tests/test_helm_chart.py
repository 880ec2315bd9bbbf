"""The Helm chart in deploy/helm/usecase-foundry: it lints, renders with the default and the production values,
every rendered manifest validates against the Kubernetes 1.30 and the newest schema, and the objects are the ones
the product needs (one beat, the migration hook, probes, grace periods, least RBAC)."""

from __future__ import annotations

import kubernetes_validate
import pytest
from django.conf import settings

from core.tests.helm import CHART, PRODUCTION_VALUES, helm, helm_binary, render

# The oldest Kubernetes the chart is checked against, and the newest schema kubernetes-validate ships.
SCHEMA_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject")}  # KEDA's CRD: no schema in Kubernetes'; checked below


@pytest.fixture(scope="module")
def helm_bin() -> str:
    binary, reason = helm_binary()
    if binary is None:
        pytest.skip(reason)
    return binary


def by_kind(manifests: list[dict]) -> dict[tuple[str, str], dict]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def container(manifest: dict) -> dict:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("values", [[], [PRODUCTION_VALUES]], ids=["default", "production"])
def test_chart_lints(helm_bin, values):
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["-f", str(path)]
    done = helm(helm_bin, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


VALUE_SETS = {
    "default": ([], {}),
    "production": ([PRODUCTION_VALUES], {}),
    "secret-created-with-ingress": (
        [],
        {
            "secret__create": "true",
            "secret__secretKey": "k" * 50,
            "secret__fieldEncryptionKeys": "a" * 43 + "=",
            "secret__databaseUrl": "postgres://foundry:pw@db:5432/foundry",
            "secret__redisUrl": "redis://redis:6379/0",
            "secret__adminPassword": "pw",
            "ingress__enabled": "true",
            "ingress__hosts[0]__host": "foundry.test",
            "rbac__create": "false",
            "serviceAccount__create": "false",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_manifest_validates_against_the_kubernetes_schema(helm_bin, name):
    files, overrides = VALUE_SETS[name]
    manifests = render(helm_bin, *files, **{k: v for k, v in overrides.items()})
    assert manifests
    validated = 0
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
            continue
        for version in SCHEMA_VERSIONS:
            # strict: a field the schema does not know (a typo, a wrong level) is an error, not ignored
            kubernetes_validate.validate(manifest, version, strict=True)
        validated += 1
    assert validated >= 8


def test_default_values_render_the_product(helm_bin):
    objects = by_kind(render(helm_bin))
    web, worker, beat = (objects[("Deployment", f"foundry-usecase-foundry-{c}")] for c in ("web", "worker", "beat"))
    assert {k for k, _ in objects} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "ConfigMap",
        "Job",
    }
    # web: gunicorn, probed on /healthz with a Host Django allows
    assert container(web)["command"][:2] == ["gunicorn", "config.wsgi:application"]
    for probe in ("readinessProbe", "livenessProbe"):
        http = container(web)[probe]["httpGet"]
        assert (http["path"], http["port"]) == ("/healthz", "http")
        assert {"name": "Host", "value": "localhost"} in http["httpHeaders"]
    config = objects[("ConfigMap", "foundry-usecase-foundry-env")]["data"]
    assert "localhost" in config["ALLOWED_HOSTS"].split(",")
    assert "foundry-usecase-foundry-web.foundry.svc" in config["ALLOWED_HOSTS"].split(",")
    assert config["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    service = objects[("Service", "foundry-usecase-foundry-web")]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    # exactly one beat, never two at once
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert container(beat)["command"][:3] == ["celery", "--app=config", "beat"]
    # workers: replicas, and a grace period long enough for a warm shutdown to finish any task
    assert worker["spec"]["replicas"] == 2
    assert container(worker)["command"][:3] == ["celery", "--app=config", "worker"]
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > settings.CELERY_TASK_TIME_LIMIT
    assert web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > int(
        next(a for a in container(web)["command"] if a.startswith("--graceful-timeout=")).split("=")[1]
    )
    for deployment in (web, worker, beat):
        assert container(deployment)["resources"]["requests"]["cpu"]
        assert container(deployment)["resources"]["requests"]["memory"]
        env_from = container(deployment)["envFrom"]
        assert {"secretRef": {"name": "foundry-usecase-foundry-config"}} in env_from
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "foundry-usecase-foundry"


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(helm_bin):
    objects = by_kind(render(helm_bin))
    job = objects[("Job", "foundry-usecase-foundry-migrate")]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert container(job)["command"] == ["python", "manage.py", "bootstrap"]
    assert {"secretRef": {"name": "foundry-usecase-foundry-config"}} in container(job)["envFrom"]
    # what the Job reads exists before it: the ConfigMap is an earlier hook (the Secret is the user's by default)
    configmap = objects[("ConfigMap", "foundry-usecase-foundry-env")]["metadata"]["annotations"]
    assert "pre-install" in configmap["helm.sh/hook"]
    assert int(configmap["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_rbac_is_the_least_the_kubernetes_driver_needs(helm_bin):
    role = by_kind(render(helm_bin))[("ClusterRole", "foundry-usecase-foundry-driver")]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert ("", "secrets", "list") in granted and ("", "secrets", "get") not in granted
    assert not any(verb in ("*", "escalate", "bind", "impersonate") for _, _, verb in granted)
    assert not any(resource == "*" or group == "*" for group, resource, _ in granted)
    assert ("", "pods", "delete") not in granted and ("", "pods", "create") not in granted
    assert {("apps", "deployments", v) for v in ("create", "patch", "delete")} <= granted
    assert ("", "namespaces", "delete") not in granted


def test_production_values_scale_workers_on_the_queue_and_expose_an_ingress(helm_bin):
    objects = by_kind(render(helm_bin, PRODUCTION_VALUES))
    worker = objects[("Deployment", "foundry-usecase-foundry-worker")]
    assert "replicas" not in worker["spec"]  # KEDA owns the replica count
    scaled = objects[("ScaledObject", "foundry-usecase-foundry-worker")]
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (3, 20)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "celery"  # the queue the product enqueues to
    ingress = objects[("Ingress", "foundry-usecase-foundry")]
    assert ingress["spec"]["rules"][0]["host"] == "foundry.example.com"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "foundry-usecase-foundry-web", "port": {"name": "http"}}
    config = objects[("ConfigMap", "foundry-usecase-foundry-env")]["data"]
    assert "foundry.example.com" in config["ALLOWED_HOSTS"].split(",")
    assert config["CSRF_TRUSTED_ORIGINS"] == "https://foundry.example.com"
    assert container(objects[("Deployment", "foundry-usecase-foundry-web")])["command"][3] == "--workers=5"


def test_a_chart_made_secret_needs_every_value(helm_bin):
    done = helm(helm_bin, "template", "foundry", str(CHART), "--set", "secret.create=true")
    assert done.returncode != 0
    assert "secret.secretKey is required when secret.create is true" in done.stderr
    complete = by_kind(
        render(
            helm_bin,
            secret__create="true",
            secret__secretKey="k",
            secret__fieldEncryptionKeys="f",
            secret__databaseUrl="postgres://d",
            secret__redisUrl="redis://r",
            secret__adminPassword="p",
        )
    )
    secret = complete[("Secret", "foundry-usecase-foundry-config")]
    assert set(secret["stringData"]) == {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "DATABASE_URL",
        "REDIS_URL",
        "ADMIN_PASSWORD",
    }
    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"


def test_autoscaling_without_a_redis_address_is_refused(helm_bin):
    done = helm(helm_bin, "template", "foundry", str(CHART), "--set", "worker.autoscaling.enabled=true")
    assert done.returncode != 0 and "worker.autoscaling.redisAddress" in done.stderr
