"""Driving deployments on the test control plane: reconcile passes until a status, the objects of a deployment,
and a recorder of Deployment events (to check the order things happened in)."""

from __future__ import annotations

import threading
import time

import urllib3
from kubernetes import watch

from core.testing import wait_for
from deployments import reconciler
from deployments.models import UseCaseDeployment
from jobs.drivers.kubernetes.manifests import LABEL_COMPONENT, LABEL_DEPLOYMENT
from jobs.models import Job

SIMPLE_RAG_KEYS = {"vector-db", "embedding", "llm", "orchestrator"}


def reconcile_until(deployment_id, status: str, *, timeout: float = 120.0) -> UseCaseDeployment:
    """Reconcile passes (what the worker runs) until the deployment has `status`."""

    def reached():
        reconciler.deployment_reconcile(deployment_id=deployment_id)
        deployment = UseCaseDeployment.objects.get(pk=deployment_id)
        return deployment if deployment.status == status else None

    try:
        return wait_for(reached, timeout=timeout, interval=0.3, message=f"deployment {deployment_id} to be {status}")
    except AssertionError as exc:
        deployment = UseCaseDeployment.objects.get(pk=deployment_id)
        jobs = "; ".join(
            f"{job.name}: {job.status} {job.status_message}"
            for job in Job.objects.filter(usecase_deployment_id=deployment_id).order_by("created_at")
        )
        raise AssertionError(f"{exc}; it is {deployment.status}: {deployment.status_message} Jobs: {jobs}") from None


def by_component(items) -> dict:
    return {item.metadata.labels[LABEL_COMPONENT]: item for item in items}


def deployment_objects(plane, deployment_id) -> dict:
    """Deployments, Services and PVCs labelled with the deployment's id, by component."""
    selector = f"{LABEL_DEPLOYMENT}={deployment_id}"
    return {
        "deployments": by_component(plane.apps.list_deployment_for_all_namespaces(label_selector=selector).items),
        "services": by_component(plane.core.list_service_for_all_namespaces(label_selector=selector).items),
        "pvcs": by_component(plane.core.list_persistent_volume_claim_for_all_namespaces(label_selector=selector).items),
    }


class DeploymentEvents(threading.Thread):
    """Watches Deployments in a namespace from a resourceVersion on, recording (seconds, event, name, available
    replicas) for every event, so a test can tell what became available before what was deleted."""

    def __init__(self, plane, namespace: str):
        super().__init__(daemon=True)
        self.plane = plane
        self.namespace = namespace
        self.events: list[tuple[float, str, str, int]] = []
        self.watch = watch.Watch()
        self.stopping = False
        listed = plane.apps.list_namespaced_deployment(namespace)
        self.resource_version = listed.metadata.resource_version

    def run(self) -> None:
        stream = self.watch.stream(
            self.plane.apps.list_namespaced_deployment,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=300,
        )
        try:
            for event in stream:
                item = event["object"]
                available = (item.status.available_replicas or 0) if item.status else 0
                self.events.append((time.monotonic(), event["type"], item.metadata.name, available))
        except urllib3.exceptions.ProtocolError:
            if not self.stopping:  # a stopped watch ends its response early; anything else is a failure
                raise

    def stop(self) -> None:
        self.stopping = True
        self.watch.stop()

    def first(self, name: str, *, kind: str | None = None, available: bool = False) -> float | None:
        for at, event_type, event_name, replicas in self.events:
            if event_name != name or (kind and event_type != kind) or (available and replicas < 1):
                continue
            return at
        return None
