"""Starting what is ready: the one fixpoint loop of the reconciler, and how a row becomes a submitted job.

A row starts once its retry time has come and its dependencies are ready; its inputs are rendered from the
upstream outputs, and a wave of rows is submitted in one call (one transaction, one scheduling pass).
"""

from __future__ import annotations

import re

from core.exceptions import ServiceError
from core.job_specs import with_inputs
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment
from deployments.passes import ReconcilePass
from deployments.state import ComponentStatus, dependency_ready
from deployments.syncing import sync
from jobs import services as job_services
from templates_app.rendering import render_component_refs


def start_ready(p: ReconcilePass, rows: list[ComponentDeployment]) -> None:
    """Start every row whose dependencies are ready, a wave at a time, until nothing more starts. A wave's jobs
    are submitted together and admitted by one scheduling pass; with zero start-up time they are RUNNING at
    once and unblock their dependants, so a whole stack comes up in one reconcile pass. The rows of all the waves
    are written by one UPDATE at the end (`ReconcilePass.batched`; nothing between two waves reads them from the
    database), so a dependant's job is submitted without a write of its upstream's rows before it."""
    with p.batched():
        while True:
            wave = [row for row in list(rows) if _ready(p, row)]
            if not wave:
                return
            _start_wave(p, wave)


def job_name(deployment: UseCaseDeployment, row: ComponentDeployment) -> str:
    """The job's name: the deployment's, then the component's key."""
    base = re.sub(r"[^a-z0-9-]+", "-", deployment.name.lower()).strip("-")[:40] or "deployment"
    # A replaced component (new generation) gets a new name, so a new address its consumers are re-rendered to;
    # a scaled one keeps its name and address; an extra part (replicas that join it) is named after its revision.
    suffix = f"-g{row.generation}" if row.generation > 1 else ""
    if row.is_extra_part:
        suffix += f"-r{row.revision}"
    return f"{base}-{row.key}{suffix}"[:63].strip("-")


def _ready(p: ReconcilePass, row: ComponentDeployment) -> bool:
    """A row not yet submitted whose retry time has come and whose dependencies are ready (otherwise its
    message says what it waits for)."""
    if row.status != ComponentStatus.PENDING or row.job_id is not None:
        return False
    if row.next_attempt_at and row.next_attempt_at > p.now:
        return False
    upstream = [p.upstream(row, key) for key in row.depends_on]
    blocked = [dep for dep in upstream if not dependency_ready(dep.status, dep.job_type)]
    if blocked:
        message = f"Waiting for {', '.join(f'{dep.key} ({dep.status})' for dep in blocked)}."
        if row.status_message != message:
            p.note_waiting(row, message)
        return False
    return True


def _start_wave(p: ReconcilePass, wave: list[ComponentDeployment]) -> None:
    """Render each row's inputs from its upstream outputs, submit the wave's jobs in one call (one transaction,
    one scheduling pass), then record each submission. A refused wave is submitted row by row, so each row
    fails with its own reason."""
    rendered = []
    for row in wave:
        outputs = {key: p.upstream(row, key).outputs for key in row.depends_on}
        planned = row.planned
        try:
            env = render_component_refs(planned.get("env", {}), outputs)
            config = render_component_refs(planned.get("config", {}), outputs)
            spec = render_component_refs(planned.get("spec", {}), outputs)
        except ServiceError as exc:
            p.set_status(row, ComponentStatus.FAILED, f"Could not render its inputs: {exc.errors or exc.detail}")
            continue
        rendered.append((row, env, config, _job_request(p, row, with_inputs(spec, env=env))))
    if not rendered:
        return
    cluster = p.deployment.cluster
    try:
        jobs = job_services.jobs_submit_many(cluster=cluster, jobs=[request for *_, request in rendered])
    except ServiceError:
        jobs = []
        for *_, request in rendered:
            try:
                jobs.append(job_services.job_submit(cluster=cluster, **request))
            except ServiceError as exc:
                jobs.append(exc)
    with p.batched():  # the rows in one UPDATE (their events go with the pass's others in one INSERT)
        for (row, env, config, _request), job in zip(rendered, jobs, strict=True):
            if isinstance(job, ServiceError):
                p.set_status(row, ComponentStatus.FAILED, f"The cluster refused the job: {job.errors or job.detail}")
                continue
            _record_submission(p, row, job, env=env, config=config)


def _job_request(p: ReconcilePass, row: ComponentDeployment, spec: dict) -> dict:
    deployment = p.deployment
    return {
        "name": job_name(deployment, row),
        "job_type": row.job_type,
        "tenant": deployment.tenant,
        "project": deployment.project,
        "resources": row.resources,
        "spec": spec,
        "source_type": "USECASE",
        "labels": {
            "usecase.deployment": str(deployment.pk),
            "usecase.component": row.key,
            "usecase.template": deployment.plan.get("template_id", ""),
            **(row.planned.get("labels") or {}),
        },
        "usecase_deployment_id": deployment.pk,
        "component_deployment_id": row.pk,
        "attempt": row.attempt,
    }


def _record_submission(p: ReconcilePass, row: ComponentDeployment, job, *, env: dict, config: dict) -> None:
    row.job = job
    row.env = env
    row.config = config
    row.submitted_at = p.now
    p.save_row(row)
    p.submitted.append(row.key)
    p.record_event(
        component=row,
        kind=DeploymentEvent.Kind.COMPONENT_SUBMITTED,
        message=f"{row.key}: job {job.pk} submitted (attempt {row.try_number}).",
        data={"key": row.key, "job_id": str(job.pk), "attempt": row.try_number},
    )
    sync(p, row)
