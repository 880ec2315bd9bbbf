"""Changes to a running deployment: plan first, then act — update, template upgrade, scale and rollback.

One function computes what a change would do (`_propose`); the plan endpoint shows it and the actions record it
as a revision plus candidate component rows that the reconciler starts beside the serving ones (new-before-old)
and promotes together once all of them run. So the plan and the action never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from audit.services import audit_record
from billing.budgets import budget_cap_check
from core.exceptions import Conflict, NotFound, ValidationError
from core.money import money_map
from core.resources import gpu_totals
from deployments.changes import (
    ADD_REPLICAS,
    ADDED,
    REMOVED,
    REPLACED,
    SCALED,
    ChangeSet,
    apply_scale,
    compute_change,
    cost_sum,
    gpu_delta,
)
from deployments.models import ComponentDeployment, DeploymentEvent, DeploymentRevision, UseCaseDeployment
from deployments.records import component_row, event_record, reconcile_enqueue, revision_record
from deployments.rollout import cancel as rollout_cancel
from deployments.services.placement import plan_placed
from deployments.services.scaling import scale_request_check
from deployments.services.zero import as_planned
from deployments.state import ComponentStatus, DeploymentStatus
from jobs import selectors as job_selectors
from sizing.planning import PlacedPlan
from templates_app.plans import Plan, mask_secrets, secret_values
from templates_app.selectors import template_content_at_version
from tenancy.selectors import require_write

# At zero too: a change to a component at zero is recorded for its next wake (see `compute_change`'s `at_zero`).
CHANGEABLE = frozenset(
    {DeploymentStatus.RUNNING, DeploymentStatus.DEGRADED, DeploymentStatus.FAILED, DeploymentStatus.SCALED_TO_ZERO}
)


@dataclass
class _Target:
    kind: str
    parameters: dict
    template_version: str
    scale: dict
    rollback_of: int | None = None
    usecase_id: str = ""
    load: dict | None = None
    given: tuple[str, ...] = ()  # parameter names the user chose (they pin what they feed: sizing keeps them)


@dataclass
class Proposal:
    """A change worked out against the deployment as it runs now."""

    target: _Target
    plan: Plan
    desired: dict[str, dict]
    current: dict[str, ComponentDeployment]
    change: ChangeSet
    summary: dict
    placed: PlacedPlan

    def to_dict(self) -> dict:
        return self.summary


# --- working out a change -----------------------------------------------------------------------------------------


def _target(*, deployment: UseCaseDeployment, change: dict) -> _Target:
    allowed = {"parameters", "template_version", "scale", "rollback_to", "usecase_id", "load"}
    if not isinstance(change, dict) or not change:
        raise ValidationError({"non_field_errors": [f"Give one of: {', '.join(sorted(allowed))}."]})
    unknown = set(change) - allowed
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    kinds = [k for k in ("scale", "rollback_to") if k in change]
    if kinds and len(change) > 1:
        raise ValidationError({kinds[0]: [f"{kinds[0]} cannot be combined with other changes."]})
    if "rollback_to" in change:
        number = change["rollback_to"]
        revision = None
        if isinstance(number, int) and not isinstance(number, bool):
            revision = deployment.revisions.filter(number=number).first()
        if revision is None:
            raise ValidationError({"rollback_to": [f"No revision {number!r} of this deployment."]})
        if revision.number == deployment.revision:
            raise ValidationError({"rollback_to": [f"The deployment already runs revision {revision.number}."]})
        sizing = revision.plan.get("sizing") or {}
        return _Target(
            "rollback",
            dict(revision.parameters),
            revision.template_version,
            dict(revision.scale),
            revision.number,
            usecase_id=sizing.get("usecase_id") or "",
            load=sizing.get("load") or None,
            given=tuple(sizing.get("given", ())),
        )
    current_keys = {component["key"] for component in deployment.plan.get("components", [])}
    if "scale" in change:
        scale = {**deployment.scale}
        gpu_types = set((deployment.cluster.inventory or {}).get("gpus") or {})
        for key, entry in scale_request_check(change["scale"], current_keys, gpu_types).items():
            merged = {**scale.get(key, {})}
            if "replicas" in entry:
                merged["replicas"] = entry["replicas"]
            if "resources" in entry:
                merged["resources"] = {**merged.get("resources", {}), **entry["resources"]}
            scale[key] = merged
        return _Target(
            "scale", dict(deployment.parameters), deployment.template_version, scale, **_sizing_of(deployment)
        )
    parameters = change.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["An object is required."]})
    version = change.get("template_version", deployment.template_version)
    if not isinstance(version, str) or not version:
        raise ValidationError({"template_version": ["A version string is required."]})
    kind = "upgrade" if version != deployment.template_version else "update"
    sizing = _sizing_of(deployment)
    if "usecase_id" in change:
        sizing["usecase_id"] = change["usecase_id"] or ""
        sizing["load"] = None if not sizing["usecase_id"] else sizing["load"]
    if "load" in change:
        sizing["load"] = change["load"] or None
    sizing["given"] = tuple(sorted({*sizing["given"], *parameters}))
    return _Target(kind, {**deployment.parameters, **parameters}, version, dict(deployment.scale), **sizing)


def _sizing_of(deployment: UseCaseDeployment) -> dict:
    """The use case, load and user-chosen parameter names the deployment was last sized with."""
    stored = deployment.plan.get("sizing") or {}
    given = stored.get("given", tuple(deployment.parameters))
    return {"usecase_id": deployment.usecase_id, "load": deployment.load or None, "given": tuple(given)}


def _resolve_target(deployment: UseCaseDeployment, target: _Target) -> PlacedPlan:
    """The target's plan fitted to the deployment's cluster: placed, and sized for its use case and load."""
    template = deployment.template
    if target.template_version != template.version:
        try:
            template = template_content_at_version(template=template, version=target.template_version)
        except NotFound:
            raise ValidationError(
                {"template_version": [f"The template has no version {target.template_version!r}."]}
            ) from None
    return plan_placed(
        template=template,
        parameters=target.parameters,
        cluster=deployment.cluster,
        usecase_id=target.usecase_id,
        load=target.load,
        given=target.given,
    )


def _current_rows(deployment: UseCaseDeployment) -> dict[str, ComponentDeployment]:
    rows = deployment.components.filter(retired_at__isnull=True, is_candidate=False)
    return {row.key: row for row in rows}


def _propose(*, deployment: UseCaseDeployment, change: dict, now: datetime | None = None) -> Proposal:
    target = _target(deployment=deployment, change=change)
    placed = _resolve_target(deployment, target)
    plan = placed.plan
    desired = {c.key: apply_scale(c.to_dict(), target.scale.get(c.key)) for c in plan.components}
    rows = _current_rows(deployment)
    current = {key: {**as_planned(row.planned), "resources": row.resources} for key, row in rows.items()}
    at_zero = {key for key, row in rows.items() if row.status == ComponentStatus.SCALED_TO_ZERO}
    failed = {key for key, row in rows.items() if row.status not in ComponentStatus.READY and key not in at_zero}
    change_set = compute_change(current=current, desired=desired, failed=failed, at_zero=at_zero)
    new_parts = [change.key for change in change_set.new_parts]
    cluster = deployment.cluster
    capacity = job_selectors.cluster_capacity_check(
        cluster=cluster, resources_list=[change.part_resources for change in change_set.new_parts], now=now
    )
    reasons = {new_parts[item["index"]]: item["reason"] for item in capacity.get("never_fits", [])}
    for change in change_set.new_parts:
        # An extra part may fit where the component it joins could not: the whole component is what must fit.
        whole = change.scale_mode == ADD_REPLICAS and job_selectors.cluster_never_fits_reason(
            cluster=cluster, resources=change.new_resources
        )
        if whole:
            reasons[change.key] = whole
    never_fits = [{"component": key, "reason": reasons[key]} for key in new_parts if key in reasons]
    before = [row.resources for row in rows.values()]
    after = [component["resources"] for component in desired.values()]
    cost_before = cost_sum(job_selectors.estimate_hourly_cost(cluster=cluster, resources=r) for r in before)
    cost_after = cost_sum(job_selectors.estimate_hourly_cost(cluster=cluster, resources=r) for r in after)
    gpus_before, gpus_after = gpu_totals(before), gpu_totals(after)
    public = plan.public_parameters()
    summary = {
        "kind": target.kind,
        "from_revision": deployment.revision,
        "rollback_to": target.rollback_of,
        "template_version": {"from": deployment.template_version, "to": plan.version},
        "parameters": {"from": deployment.plan.get("parameters", {}), "to": public},
        "scale": target.scale,
        # The diff shows rendered config and env: a secret parameter's old and new values would appear in it.
        **mask_secrets(change_set.to_dict(), _secrets_of(plan, deployment.parameters, target.parameters)),
        "gpus": {"before": gpus_before, "after": gpus_after, "delta": gpu_delta(gpus_before, gpus_after)},
        "hourly_cost": money_map({"before": cost_before, "after": cost_after, "delta": cost_after - cost_before}),
        "capacity": {
            "new_parts": new_parts,
            "fits_now": capacity["fits_now"] and not never_fits,
            "predicted_start": None if never_fits else _iso(capacity.get("predicted_start")),
            "never_fits": never_fits,
        },
        "start_order": [key for key in desired if key in new_parts],
        "stop_order_after_switch": change_set.stopped_after_switch,
        "is_noop": change_set.is_noop,
        "usecase_id": {"from": deployment.usecase_id, "to": target.usecase_id},
        "load": {"from": deployment.load, "to": placed.report["load"]},
        "sizing": placed.stored_report(),
        "slo_errors": placed.slo_errors,
    }
    return Proposal(target, plan, desired, rows, change_set, summary, placed)


def _secrets_of(plan: Plan, *parameter_sets: dict) -> list[str]:
    return [value for parameters in parameter_sets for value in secret_values(parameters, plan.secret_parameters)]


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def deployment_change_plan(*, user, deployment: UseCaseDeployment, change: dict) -> dict:
    """What a change would do — per component, GPUs, cost, capacity — with nothing written."""
    _check_changeable(deployment, user=user, for_plan=True)
    return _propose(deployment=deployment, change=change).to_dict()


# --- acting on it -----------------------------------------------------------------------------------------------


def _check_changeable(deployment: UseCaseDeployment, *, user, for_plan: bool = False) -> None:
    require_write(user, deployment.tenant_id)
    if deployment.status in {DeploymentStatus.DELETING, DeploymentStatus.DELETED}:
        raise Conflict(f"The deployment is {deployment.status.lower()}; it cannot change.")
    if for_plan:
        return
    if deployment.pending_revision_id:
        raise Conflict(f"A change is already rolling out (revision {deployment.pending_revision.number}).")
    if deployment.status not in CHANGEABLE:
        raise Conflict(f"The deployment is {deployment.status.lower()}; change it once it is running.")


@transaction.atomic
def _change_start(*, user, deployment: UseCaseDeployment, change: dict) -> DeploymentRevision:
    # The row lock makes "check no change is running, then start one" atomic: a second change waits here and
    # then sees the first one's pending revision (409). The revision is read after the lock, not joined: a row
    # joined to a locked one keeps its value from before the wait (it would be None, though the id is set).
    deployment = (
        UseCaseDeployment.objects.select_for_update(of=("self",))
        .select_related("template", "cluster")
        .get(pk=deployment.pk)
    )
    _check_changeable(deployment, user=user)
    proposal = _propose(deployment=deployment, change=change)
    if proposal.placed.slo_errors:
        raise ValidationError(proposal.placed.slo_errors, detail="No configuration on this cluster meets the SLOs.")
    if proposal.change.is_noop:
        raise ValidationError({"non_field_errors": ["Nothing would change."]})
    never_fits = proposal.summary["capacity"]["never_fits"]
    if never_fits:
        if proposal.target.kind == "scale":
            raise ValidationError({f"scale.{item['component']}": [item["reason"]] for item in never_fits})
        reasons = [f"{item['component']}: {item['reason']}" for item in never_fits]
        raise ValidationError({"non_field_errors": [f"The cluster can never fit the new parts. {' '.join(reasons)}"]})
    if Decimal(proposal.summary["hourly_cost"]["delta"]) > 0:  # scale-ups and updates that cost more per hour
        budget_cap_check(tenant_id=deployment.tenant_id, project_id=deployment.project_id, action="scale-ups")
    target = proposal.target
    revision = revision_record(
        deployment=deployment,
        kind=target.kind,
        user=user,
        parameters=target.parameters,
        template_version=proposal.plan.version,
        plan={
            **proposal.plan.to_stored_dict(),
            "sizing": {**proposal.placed.stored_report(), "given": list(target.given)},
        },
        scale=target.scale,
        components={key: component["resources"] for key, component in proposal.desired.items()},
        change=proposal.summary,
        rollback_of=target.rollback_of,
    )
    attempts = dict(deployment.components.values("key").annotate(last=Max("attempt")).values_list("key", "last"))
    candidates = []
    for change in proposal.change.new_parts:
        key, action = change.key, change.action
        planned = proposal.desired[key]
        old = proposal.current.get(key)
        generation = (old.generation + (1 if action == REPLACED and not change.at_zero else 0)) if old else 1
        extra_part = change.scale_mode == ADD_REPLICAS
        what = "Extra part" if extra_part else action.capitalize()
        waiting = {"status_message": f"{what} in revision {revision.number}: waiting to start."}
        if change.at_zero:  # no job now: the row waits at zero, with the address (outputs) it keeps
            waiting = {
                "status": ComponentStatus.SCALED_TO_ZERO,
                "outputs": old.outputs,
                "has_run": old.has_run,
                "status_message": f"{what} at zero in revision {revision.number}: the next request starts it.",
            }
        candidates.append(
            component_row(
                deployment=deployment,
                planned=planned,
                attempt=attempts.get(key, 0) + 1,
                generation=generation,
                is_candidate=True,
                is_extra_part=extra_part,
                replaces=old,
                revision=revision.number,
                resources=change.part_resources,
                **waiting,
            )
        )
    ComponentDeployment.objects.bulk_create(candidates)
    deployment.usecase_id, deployment.load = target.usecase_id or "", proposal.placed.report["load"]
    deployment.pending_revision = revision
    deployment.status = DeploymentStatus.UPDATING
    summary = proposal.summary["summary"]
    parts = [
        f"{action} {', '.join(summary[action])}" for action in (REPLACED, SCALED, ADDED, REMOVED) if summary[action]
    ]
    deployment.status_message = f"Rolling out revision {revision.number} ({target.kind}): {'; '.join(parts)}."
    deployment.save(update_fields=["usecase_id", "load", "pending_revision", "status", "status_message", "updated_at"])
    event_record(
        deployment=deployment,
        kind=DeploymentEvent.Kind.REVISION_STARTED,
        message=deployment.status_message,
        data={"revision": revision.number, "kind": target.kind, "summary": summary, "status": "UPDATING"},
    )
    audit_record(
        action=target.kind,
        obj=deployment,
        before={
            "parameters": deployment.parameters,
            "template_version": deployment.template_version,
            "scale": deployment.scale,
        },
        after={"parameters": target.parameters, "template_version": proposal.plan.version, "scale": target.scale},
        secret_values=_secrets_of(proposal.plan, deployment.parameters, target.parameters),
    )
    reconcile_enqueue(deployment_id=deployment.pk)
    return revision


def deployment_update(
    *,
    user,
    deployment: UseCaseDeployment,
    parameters: dict | None = None,
    template_version: str | None = None,
    usecase_id: str | None = None,
    load: dict | None = None,
) -> DeploymentRevision:
    """New parameters, template version, use case and/or load: the LLMs marked for sizing are sized again; only
    what changes is replaced (and consumers of changed outputs)."""
    given = {"parameters": parameters, "template_version": template_version, "usecase_id": usecase_id, "load": load}
    change = {name: value for name, value in given.items() if value is not None}
    return _change_start(user=user, deployment=deployment, change=change)


def deployment_scale(*, user, deployment: UseCaseDeployment, scale: dict) -> DeploymentRevision:
    """Replicas (and optionally resources) per component; other components are not touched."""
    return _change_start(user=user, deployment=deployment, change={"scale": scale})


def deployment_rollback(*, user, deployment: UseCaseDeployment, revision: int) -> DeploymentRevision:
    """Back to revision N's parameters, template version and scale, by the same update mechanism."""
    return _change_start(user=user, deployment=deployment, change={"rollback_to": revision})


@transaction.atomic
def deployment_cancel_change(*, user, deployment: UseCaseDeployment) -> DeploymentRevision:
    """Stop rolling out the pending change (say, a scale waiting for capacity that will not come): its new parts
    stop, the revision running now serves on unchanged, and the deployment takes changes again."""
    # The pending revision is read after the lock, not joined (see _change_start).
    locked = UseCaseDeployment.objects.select_for_update(of=("self",)).select_related("cluster", "project")
    deployment = locked.get(pk=deployment.pk)
    require_write(user, deployment.tenant_id)
    revision = deployment.pending_revision
    if revision is None:
        raise Conflict("No change is rolling out; there is nothing to cancel.")
    rollout_cancel(deployment=deployment, reason=f"cancelled by {user.get_username()}.")
    revision.refresh_from_db()
    audit_record(action="cancel_change", obj=deployment, after={"revision": revision.number, "status": revision.status})
    return revision
