"""The pure state rules (no database), and that they agree with the models' and the job layer's choices."""

import pytest

from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.state import (
    JOB_TO_COMPONENT,
    ComponentState,
    ComponentStatus,
    DeploymentStatus,
    aggregate_status,
    backoff_seconds,
    component_status_for_job,
    delete_order,
    dependency_ready,
)
from jobs.models import Job


def states(*pairs, **flags):
    return [ComponentState(key=f"c{i}", status=status, **flags) for i, status in enumerate(pairs)]


def test_all_running_is_running():
    assert aggregate_status(states("RUNNING", "RUNNING", "SUCCEEDED")) == "RUNNING"


def test_nothing_submitted_is_pending():
    assert aggregate_status(states("PENDING", "PENDING")) == "PENDING"


def test_some_started_is_deploying():
    assert aggregate_status(states("RUNNING", "QUEUED", "PENDING")) == "DEPLOYING"


def test_failed_for_good_before_running_is_failed():
    assert aggregate_status(states("RUNNING", "FAILED")) == "FAILED"


def test_retrying_component_keeps_deploying():
    rows = [ComponentState("a", "RUNNING"), ComponentState("b", "PENDING", retrying=True)]
    assert aggregate_status(rows) == "DEPLOYING"


def test_component_that_ran_and_failed_degrades():
    rows = [ComponentState("a", "RUNNING"), ComponentState("b", "PENDING", has_run=True, retrying=True)]
    assert aggregate_status(rows) == "DEGRADED"
    rows = [ComponentState("a", "RUNNING"), ComponentState("b", "FAILED", has_run=True)]
    assert aggregate_status(rows) == "DEGRADED"


def test_job_states_map_onto_component_states():
    assert [
        component_status_for_job(s) for s in ["PENDING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
    ] == [
        "STARTING",
        "QUEUED",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "STOPPED",
    ]
    with pytest.raises(KeyError):
        component_status_for_job("EXPLODED")


def test_dependency_readiness_depends_on_job_type():
    assert dependency_ready("RUNNING", "SERVICE")
    assert not dependency_ready("SUCCEEDED", "SERVICE")
    assert dependency_ready("SUCCEEDED", "BATCH")
    assert not dependency_ready("RUNNING", "BATCH")


def test_backoff_doubles_and_caps():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff_seconds(30) == 60


def test_delete_order_stops_dependents_first():
    waves = delete_order(
        {
            "vector-db": [],
            "embedding": [],
            "llm": [],
            "orchestrator": ["vector-db", "embedding", "llm"],
            "ui": ["orchestrator"],
        }
    )
    assert waves == [["ui"], ["orchestrator"], ["embedding", "llm", "vector-db"]]


def test_component_outputs_build_declared_outputs_on_the_job_host():
    from deployments.state import component_outputs

    job = {"url": "http://rag-llm.ns.svc.cluster.local:8000", "host": "rag-llm.ns.svc.cluster.local", "port": 8000}
    specs = {"url": {"protocol": "http", "port": 8000, "path": "/v1"}, "grpc_url": {"protocol": "grpc", "port": 9000}}
    assert component_outputs(job, specs) == {
        "url": "http://rag-llm.ns.svc.cluster.local:8000/v1",
        "host": "rag-llm.ns.svc.cluster.local",
        "port": 8000,
        "grpc_url": "grpc://rag-llm.ns.svc.cluster.local:9000",
    }
    assert component_outputs({}, specs) == {}


def test_every_job_status_maps_onto_a_component_status():
    # The pure rules spell job statuses as strings; these are the job layer's choices, every one of them.
    assert set(JOB_TO_COMPONENT) == set(Job.Status.values)
    assert set(JOB_TO_COMPONENT.values()) <= set(ComponentStatus.CHOICES)


def test_the_models_choices_are_the_pure_statuses():
    assert tuple(UseCaseDeployment.Status.values) == DeploymentStatus.CHOICES
    assert tuple(ComponentDeployment.Status.values) == ComponentStatus.CHOICES


def test_a_component_at_zero_makes_the_deployment_scaled_to_zero_only_when_the_rest_serves():
    zero = ComponentState("llm", ComponentStatus.SCALED_TO_ZERO, has_run=True)
    running = ComponentState("db", ComponentStatus.RUNNING, has_run=True)
    assert aggregate_status([running, zero]) == DeploymentStatus.SCALED_TO_ZERO
    assert aggregate_status([zero]) == DeploymentStatus.SCALED_TO_ZERO
    starting = ComponentState("db", ComponentStatus.STARTING, has_run=True)
    assert aggregate_status([starting, zero]) == DeploymentStatus.DEGRADED
    assert DeploymentStatus.SCALED_TO_ZERO not in DeploymentStatus.ACTIVE  # the reconciler leaves it alone
