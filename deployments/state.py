"""Pure state logic of a deployment: job -> component status, components -> deployment status, back-off.

No Django imports, so the rules are tested fast and shared by the reconciler, the API and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import TopologicalSorter


class ComponentStatus:
    PENDING = "PENDING"  # waiting for dependencies (or for a retry's back-off)
    QUEUED = "QUEUED"  # its job waits for capacity on the cluster
    STARTING = "STARTING"  # its job is admitted and starting
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # a BATCH component that finished
    FAILED = "FAILED"  # failed for good (retries exhausted)
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    # Its job stopped by the autoscaler (min 0, idle): the row keeps its place and a wake starts it in a new row.
    SCALED_TO_ZERO = "SCALED_TO_ZERO"

    CHOICES = (PENDING, QUEUED, STARTING, RUNNING, SUCCEEDED, FAILED, STOPPING, STOPPED, SCALED_TO_ZERO)
    READY = frozenset({RUNNING, SUCCEEDED})
    DONE = frozenset({SUCCEEDED, FAILED, STOPPED})


class DeploymentStatus:
    PENDING = "PENDING"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    DEGRADED = "DEGRADED"
    UPDATING = "UPDATING"
    FAILED = "FAILED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    # Every component that serves scaled to zero by its autoscaling policy: no job runs, no cost; the first request
    # (or a wake) starts it again. Not active: the reconciler leaves it alone until then.
    SCALED_TO_ZERO = "SCALED_TO_ZERO"

    CHOICES = (PENDING, DEPLOYING, RUNNING, DEGRADED, UPDATING, FAILED, DELETING, DELETED, SCALED_TO_ZERO)
    TERMINAL = frozenset({FAILED, DELETED})
    # States in which the reconciler keeps working without anyone asking.
    ACTIVE = frozenset({PENDING, DEPLOYING, DEGRADED, UPDATING, DELETING})


JOB_TO_COMPONENT = {
    "PENDING": ComponentStatus.STARTING,
    "QUEUED": ComponentStatus.QUEUED,
    "RUNNING": ComponentStatus.RUNNING,
    "SUCCEEDED": ComponentStatus.SUCCEEDED,
    "FAILED": ComponentStatus.FAILED,
    "CANCELLED": ComponentStatus.STOPPED,
}


def component_status_for_job(job_status: str) -> str:
    """The component state a job state maps onto."""
    return JOB_TO_COMPONENT[job_status]


def dependency_ready(status: str, job_type: str) -> bool:
    """A SERVICE dependency is ready when RUNNING or scaled to zero (its address stands and the first request
    wakes it), a BATCH one when SUCCEEDED."""
    if job_type == "SERVICE":
        return status in (ComponentStatus.RUNNING, ComponentStatus.SCALED_TO_ZERO)
    return status == ComponentStatus.SUCCEEDED


@dataclass(frozen=True)
class ComponentState:
    key: str
    status: str
    has_run: bool = False  # was RUNNING at some point: its failure degrades a deployment instead of failing it
    retrying: bool = False  # failed, with a retry scheduled


def aggregate_status(components: Iterable[ComponentState]) -> str:
    """The deployment status that a set of (current) component states adds up to."""
    states = list(components)
    if not states:
        return DeploymentStatus.PENDING
    if all(c.status in ComponentStatus.READY for c in states):
        return DeploymentStatus.RUNNING
    if all(c.status in ComponentStatus.READY or c.status == ComponentStatus.SCALED_TO_ZERO for c in states):
        return DeploymentStatus.SCALED_TO_ZERO
    if any(c.status == ComponentStatus.FAILED and not c.retrying and not c.has_run for c in states):
        return DeploymentStatus.FAILED
    if any(c.has_run and c.status not in ComponentStatus.READY for c in states):
        return DeploymentStatus.DEGRADED
    if all(c.status == ComponentStatus.PENDING and not c.retrying for c in states):
        return DeploymentStatus.PENDING
    return DeploymentStatus.DEPLOYING


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 60.0) -> float:
    """Delay before retry number `attempt` (1-based): base, 2*base, 4*base, ... capped."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


def delete_order(depends_on: dict[str, Iterable[str]]) -> list[list[str]]:
    """Waves for a delete: dependents stop before what they depend on (the start order, reversed)."""
    sorter = TopologicalSorter({key: set(deps) for key, deps in depends_on.items()})
    sorter.prepare()
    waves = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        waves.append(ready)
        sorter.done(*ready)
    return list(reversed(waves))


def component_outputs(job_outputs: dict, output_specs: dict) -> dict:
    """A running component's outputs: what the driver reports (url, host, port), with each output the component
    declares built on the job's in-cluster host (e.g. vLLM's `url` ends in /v1, Milvus adds a `grpc_url`)."""
    outputs = dict(job_outputs or {})
    host = outputs.get("host")
    if not host:
        return outputs
    for name, spec in (output_specs or {}).items():
        protocol = spec.get("protocol") or "http"
        port = spec.get("port") or outputs.get("port")
        outputs[name] = f"{protocol}://{host}:{port}{spec.get('path') or ''}"
    return outputs
