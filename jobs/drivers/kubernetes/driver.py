"""The Kubernetes driver: jobs become Deployments, Services and PVCs (docker/model specs) or Helm releases (helm
specs) on a real cluster, and their states are read back from those objects.

Capacity belongs to the cluster's scheduler here; quota is the control plane's: a job of a ClusterQueue is held
(nothing applied) until a pass admits it within its queue's quota (`admission`). A job is PENDING once applied,
QUEUED while its Pods are Unschedulable (the scheduler's message in status_message), PENDING with admitted_at once
placed, RUNNING once the Deployment has its replicas available (or the release is deployed). The forecast is the
job layer's planner over the inventory the connection check read from the nodes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.exceptions import ServiceError
from jobs.drivers.base import ClusterDriver, Forecast, SchedulePassResult
from jobs.drivers.kubernetes import helm, manifests, objects
from jobs.drivers.kubernetes.admission import admit_held, held_jobs
from jobs.drivers.kubernetes.connection import Settings, api_client, unavailable
from jobs.drivers.kubernetes.status import Verdict, release_verdict, workload_verdict
from jobs.drivers.simulated import SimulatedDriver
from jobs.models import Cluster, Job, check_transition

logger = logging.getLogger(__name__)
BILLING_STEP = Decimal("0.01")
LIVE = (Job.Status.PENDING, Job.Status.QUEUED, Job.Status.RUNNING)


def target_for(job: Job, cluster: Cluster) -> manifests.Target:
    conf = Settings.of(cluster)
    gpu_type = (job.resources or {}).get("gpu_type")
    return manifests.Target(
        namespace=manifests.namespace_for(project_id=job.project_id, project_name=job.project.name),
        name=manifests.object_name(job.name, job.pk),
        labels={**manifests.job_labels(job), **objects.cluster_labels(cluster.pk)},
        gpu_resource=conf.gpu_resource,
        gpu_label=conf.gpu_label,
        gpu_products=conf.products_of(gpu_type) if gpu_type else [],
        storage_class=conf.storage_class,
    )


def service_url(*, name: str, namespace: str, port: int) -> dict:
    domain = getattr(settings, "KUBERNETES_CLUSTER_DOMAIN", "cluster.local")
    host = f"{name}.{namespace}.svc.{domain}"
    return {"url": f"http://{host}:{port}", "host": host, "port": port}


def _kubeconfig(cluster: Cluster) -> str | None:
    return None if Settings.of(cluster).in_cluster else cluster.kubeconfig


class KubernetesDriver(ClusterDriver):
    def validate(self, *, cluster: Cluster, spec: dict, resources: dict) -> None:
        """Render and check a docker/model job's objects before it is recorded (helm charts render at submit)."""
        if spec.get("kind") == "helm":
            return
        target = manifests.Target(
            namespace="validation",
            name="validation",
            labels={manifests.LABEL_JOB: "validation"},
            gpu_products=["validation"],
        )
        manifests.check_manifests(manifests.render_workload(spec=spec, resources=resources, target=target))

    def submit(self, *, job: Job) -> None:
        """Apply a job's objects, or hold a job of a ClusterQueue until a pass admits it (`admission`)."""
        if job.cluster_queue_id is not None:
            message = "Held until its queue admits it; nothing is applied on the cluster before."
            Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(status_message=message)
            job.status_message = message
            return
        self.apply(job=job)

    def apply(self, *, job: Job) -> None:
        """Create the job's namespace and objects (or install its release) on the cluster."""
        cluster = job.cluster
        target = target_for(job, cluster)
        api = api_client(cluster)
        kind = "helm" if job.spec.get("kind") == "helm" else "workload"
        created: list[list[str]] = []
        try:
            objects.ensure_namespace(
                api,
                cluster_id=cluster.pk,
                name=target.namespace,
                labels={
                    **objects.cluster_labels(cluster.pk),
                    manifests.LABEL_TENANT: str(job.tenant_id),
                    manifests.LABEL_PROJECT: str(job.project_id),
                },
            )
            if kind == "helm":
                values = manifests.helm_values(spec=job.spec, resources=job.resources, target=target)
                helm.render(
                    job_id=job.pk, release=target.name, namespace=target.namespace, spec=job.spec, values=values
                )
                helm.install(
                    job_id=job.pk,
                    release=target.name,
                    namespace=target.namespace,
                    spec=job.spec,
                    values=values,
                    kubeconfig=_kubeconfig(cluster),
                    timeout=getattr(settings, "KUBERNETES_HELM_TIMEOUT", "10m"),
                )
            else:
                rendered = manifests.render_workload(spec=job.spec, resources=job.resources, target=target)
                manifests.check_manifests(rendered)
                for manifest in rendered:
                    objects.apply(api, manifest)
                    created.append([manifest["kind"], manifest["metadata"]["name"]])
        except ServiceError as exc:
            self._refuse(job, f"The cluster refused the job: {exc.errors or exc.detail}")
            return
        except Exception as exc:
            try:
                error = unavailable(exc)
            except Exception:
                logger.exception("submitting job %s to cluster %s failed", job.pk, cluster.pk)
                error = ServiceError(str(exc))
            self._refuse(job, f"The cluster refused the job: {error.detail}")
            self._remove_partial(api, target.namespace, created if kind == "workload" else [])
            return
        state = {"kind": kind, "namespace": target.namespace, "name": target.name, "objects": created, "seen": False}
        Job.objects.filter(pk=job.pk).update(driver_state=state, status_message="Applied; waiting for the scheduler.")
        job.driver_state = state

    def _remove_partial(self, api, namespace: str, created: list) -> None:
        """Objects applied before a later one was refused go again: a failed job leaves nothing behind."""
        for kind, name in reversed(created):
            try:
                objects.delete(api, kind=kind, namespace=namespace, name=name)
            except Exception:
                logger.warning("could not remove %s %s/%s of a refused job", kind, namespace, name, exc_info=True)

    def _refuse(self, job: Job, message: str) -> None:
        Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
            status=Job.Status.FAILED, status_message=message[:4000], completed_at=timezone.now()
        )

    def resize(self, *, job: Job) -> None:
        state = job.driver_state or {}
        if state.get("kind") != "workload":
            return
        try:
            objects.scale(
                api_client(job.cluster),
                namespace=state["namespace"],
                name=state["name"],
                replicas=int(job.resources.get("replicas", 1)),
            )
        except Exception as exc:
            raise unavailable(exc) from exc

    def cancel(self, *, job: Job, now: datetime) -> None:
        """Delete what the job created, newest first (Deployment, Service, PVC), or uninstall its release."""
        state = job.driver_state or {}
        if not state:
            return
        cluster = job.cluster
        try:
            if state["kind"] == "helm":
                helm.uninstall(
                    job_id=job.pk, release=state["name"], namespace=state["namespace"], kubeconfig=_kubeconfig(cluster)
                )
                return
            api = api_client(cluster)
            for kind, name in reversed(state.get("objects") or []):
                objects.delete(api, kind=kind, namespace=state["namespace"], name=name)
        except Exception as exc:
            raise unavailable(exc) from exc

    # --- a pass -------------------------------------------------------------------------------------------------

    def poll(self, *, cluster: Cluster, now: datetime, bill_running: bool = True) -> SchedulePassResult:
        result = SchedulePassResult(cluster_id=cluster.pk, now=now)
        admitted = admit_held(cluster=cluster, now=now, result=result, apply=lambda job: self.apply(job=job))
        jobs = list(
            Job.objects.filter(cluster=cluster, status__in=LIVE).filter(~Q(driver_state={})).select_related("project")
        )
        if not jobs:
            if admitted or held_jobs(cluster).exists():
                result.next_change_at = now + timedelta(seconds=_poll_seconds())
            return result
        helm_namespaces = {j.driver_state["namespace"] for j in jobs if j.driver_state.get("kind") == "helm"}
        try:
            snapshot = objects.read(api_client(cluster), cluster_id=cluster.pk, helm_namespaces=helm_namespaces)
        except Exception as exc:
            error = unavailable(exc)
            logger.warning("cluster %s: %s", cluster.pk, error.detail)
            result.next_change_at = now + timedelta(seconds=_poll_seconds())
            return result
        accruing = []
        for job in jobs:
            verdict = self._verdict(job, snapshot)
            fields = self._transition(job, verdict, now)
            if fields.get("status") == job.status:
                del fields["status"]
            if fields:
                if "status" in fields:
                    check_transition(job, fields["status"])
                if Job.objects.filter(pk=job.pk, status=job.status).update(**fields):
                    result.changed_job_ids.append(job.pk)
                    status = fields.get("status", job.status)
                    result.started += int(status == Job.Status.RUNNING and job.status != Job.Status.RUNNING)
                    result.failed += int(status == Job.Status.FAILED)
                    result.queued += int(status == Job.Status.QUEUED)
            elif bill_running and job.status == Job.Status.RUNNING:
                cost = job.cost_until(now)
                if abs(cost - (job.actual_cost or 0)) >= BILLING_STEP:
                    job.actual_cost = cost
                    accruing.append(job)
        if accruing:
            Job.objects.bulk_update(accruing, ["actual_cost"], batch_size=1000)
        if any(j.status != Job.Status.RUNNING for j in jobs) or admitted:
            result.next_change_at = now + timedelta(seconds=_poll_seconds())
        return result

    def _verdict(self, job: Job, snapshot: objects.Snapshot) -> Verdict:
        state = job.driver_state
        key = (state["namespace"], state["name"])
        if state["kind"] == "helm":
            exit_code, output = helm.outcome(job.pk)
            return release_verdict(
                release_status=snapshot.releases.get(key),
                helm_exit=exit_code,
                helm_output=output,
                seen=state.get("seen", False),
            )
        return workload_verdict(
            deployment=snapshot.deployments.get(key),
            service=snapshot.services.get(key),
            pods=snapshot.pods_by_job.get(str(job.pk), []),
            replicas=int(job.resources.get("replicas", 1)),
            seen=state.get("seen", False),
        )

    def _transition(self, job: Job, verdict: Verdict, now: datetime) -> dict:
        """The fields that change on the job row for what its objects say (empty: nothing changes)."""
        fields: dict = {}
        if verdict.state not in ("ABSENT", "VANISHED") and not job.driver_state.get("seen"):
            fields["driver_state"] = {**job.driver_state, "seen": True}
        if verdict.state in ("FAILED", "VANISHED"):
            return {
                **fields,
                "status": Job.Status.FAILED,
                "status_message": verdict.message,
                "completed_at": now,
                "actual_cost": job.cost_until(now),
            }
        if verdict.state == "RUNNING" and job.status != Job.Status.RUNNING:
            state = job.driver_state
            outputs = service_url(name=state["name"], namespace=state["namespace"], port=manifests.port_of(job.spec))
            job.started_at = now
            return {
                **fields,
                "status": Job.Status.RUNNING,
                "started_at": now,
                "admitted_at": job.admitted_at or now,
                "outputs": outputs,
                "status_message": verdict.message,
                "actual_cost": job.cost_until(now),
            }
        if job.status == Job.Status.RUNNING:
            if verdict.message and verdict.message != job.status_message and verdict.state != "ABSENT":
                fields["status_message"] = verdict.message  # degraded or recovered: the job runs on
            return fields
        if verdict.state == "UNSCHEDULABLE":
            fields.update(status=Job.Status.QUEUED, admitted_at=None, queued_at=job.queued_at or now)
        elif verdict.state == "SCHEDULED":
            fields.update(status=Job.Status.PENDING, admitted_at=job.admitted_at or now)
        elif verdict.state == "STARTING" and job.status == Job.Status.QUEUED:
            fields.update(status=Job.Status.PENDING)
        if verdict.message and verdict.message != job.status_message:
            fields["status_message"] = verdict.message
        if fields.get("status") == job.status:
            fields = {k: v for k, v in fields.items() if k not in ("status", "queued_at") and v != getattr(job, k)}
        return fields

    # --- forecast -----------------------------------------------------------------------------------------------

    def forecast(
        self, *, cluster: Cluster, now: datetime, extra: list | None = None, summarise_quiet: bool = False
    ) -> Forecast:
        """The job layer's planner over the inventory read from the nodes; a waiting job's reason is what the
        cluster's scheduler said."""
        forecast = SimulatedDriver().forecast(cluster=cluster, now=now, extra=extra, summarise_quiet=summarise_quiet)
        waiting = Job.objects.filter(cluster=cluster, status=Job.Status.QUEUED).values_list("pk", "status_message")
        for pk, message in waiting:
            item = forecast.jobs.get(pk)
            if item is not None and message:
                item.reason = message
        return forecast


def _poll_seconds() -> float:
    return float(getattr(settings, "KUBERNETES_POLL_SECONDS", 2.0))
