"""A job's state read from its objects (pure: Deployment, Pods, Service and Helm release in, verdict out)."""

from __future__ import annotations

from dataclasses import dataclass

# Container waiting reasons that mean the workload cannot start as it is (shown to the user as they are).
BAD_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "InvalidImageName",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass
class Verdict:
    """What the objects say: RUNNING (ready), SCHEDULED (placed, starting), UNSCHEDULABLE, STARTING (not yet
    placed, no reason known), FAILED (for good), VANISHED (seen before, gone now) or ABSENT (not seen yet)."""

    state: str
    message: str = ""


def _condition(conditions, kind: str):
    for condition in conditions or ():
        if condition.type == kind:
            return condition
    return None


def pod_problem(pods: list) -> tuple[str, str] | None:
    """(state, message) from the Pods: the scheduler's Unschedulable message, or a container that cannot start."""
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            continue
        scheduled = _condition(pod.status.conditions, "PodScheduled")
        if scheduled is not None and scheduled.status == "False" and scheduled.reason == "Unschedulable":
            return "UNSCHEDULABLE", f"Unschedulable: {scheduled.message}"
    for pod in pods:
        for status in pod.status.container_statuses or ():
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in BAD_WAITING:
                detail = f": {waiting.message}" if waiting.message else ""
                return "SCHEDULED", f"{waiting.reason} in pod {pod.metadata.name}{detail}"
    return None


def workload_verdict(*, deployment, service, pods: list, replicas: int, seen: bool) -> Verdict:
    """A docker/model job from its Deployment (available replicas and conditions), Service and Pods."""
    if deployment is None or service is None:
        if seen:
            missing = "Deployment" if deployment is None else "Service"
            return Verdict("VANISHED", f"Its {missing} was deleted outside the product.")
        return Verdict("ABSENT")
    status = deployment.status
    progressing = _condition(status.conditions, "Progressing")
    if progressing is not None and progressing.status == "False" and progressing.reason == "ProgressDeadlineExceeded":
        problem = pod_problem(pods)
        return Verdict("FAILED", f"{progressing.message}" + (f" ({problem[1]})" if problem else ""))
    current = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    available = status.available_replicas or 0
    updated = status.updated_replicas or 0
    if current and available >= replicas and updated >= replicas:
        return Verdict("RUNNING", f"{available} of {replicas} replicas available.")
    problem = pod_problem(pods)
    if problem:
        return Verdict(*problem)
    live = [p for p in pods if not p.metadata.deletion_timestamp]
    if live and all(p.spec.node_name for p in live):
        return Verdict("SCHEDULED", f"Scheduled; {available} of {replicas} replicas ready.")
    return Verdict("STARTING", f"Waiting for the scheduler; {available} of {replicas} replicas ready.")


def release_verdict(*, release_status: str | None, helm_exit: int | None, helm_output: str, seen: bool) -> Verdict:
    """A helm job from its release record and, where this host started it, helm's exit code."""
    if release_status == "deployed":
        return Verdict("RUNNING", "Release deployed.")
    if release_status == "failed":
        return Verdict("FAILED", f"Release failed: {helm_output or 'see helm history'}")
    if helm_exit not in (None, 0):
        # --rollback-on-failure removed a first install that failed: helm's own words say why.
        return Verdict("FAILED", f"helm upgrade --install failed: {helm_output}")
    if release_status is None:
        if seen:
            return Verdict("VANISHED", "Its Helm release was uninstalled outside the product.")
        return Verdict("ABSENT")
    return Verdict("SCHEDULED", f"Release {release_status}.")
