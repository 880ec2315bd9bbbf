"""Services and the simulated driver on the database, with a controlled clock.

Over 400 lines on purpose: one scenario per test over the whole life of a job (submit, admit, queue, start,
finish, fail, cancel, bill, forecast) shares the clock and cluster fixtures here; split by stage it would
repeat them in every file."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.exceptions import Conflict, ValidationError
from jobs import selectors, services
from jobs.models import Job
from jobs.tests.conftest import T0
from jobs.tests.factories import SPEC, ClusterFactory, resources

pytestmark = pytest.mark.django_db


def submit(cluster, project, name="job", job_type="BATCH", duration=60, **kwargs):
    kwargs.setdefault("resources", resources(gpus=4))
    kwargs.setdefault("spec", SPEC)
    if job_type != "SERVICE":
        kwargs.setdefault("duration_seconds", duration)
    return services.job_submit(
        cluster=cluster, name=name, job_type=job_type, tenant=cluster.tenant, project=project, **kwargs
    )


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


# --- submission ----------------------------------------------------------------------------------------------


def test_service_with_zero_startup_is_running_with_outputs_right_after_submit(cluster, project, clock):
    cluster.simulation = {"startup_seconds": {"default": 0}}
    cluster.save()
    spec = {
        "kind": "helm",
        "repo": "https://qdrant.github.io/qdrant-helm",
        "chart": "qdrant",
        "port": 6333,
        "namespace": "rag",
    }
    job = submit(cluster, project, name="Vector DB_1", job_type="SERVICE", spec=spec)
    assert job.status == Job.Status.RUNNING
    assert job.started_at == T0
    assert job.outputs == {
        "url": "http://vector-db-1.rag.svc.cluster.local:6333",
        "host": "vector-db-1.rag.svc.cluster.local",
        "port": 6333,
    }


def test_job_that_fits_is_admitted_and_starts_after_startup(cluster, project, clock):
    job = submit(cluster, project)
    assert (job.status, job.admitted_at, job.started_at) == (Job.Status.PENDING, T0, None)
    clock.shift(10)
    result = services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert result.started == 1 and result.changed_job_ids == [job.pk]
    assert (job.status, job.started_at) == (Job.Status.RUNNING, at(10))
    assert result.next_change_at == at(70)


def test_batch_succeeds_after_its_duration_with_exact_times(cluster, project, clock):
    job = submit(cluster, project, duration=60)
    clock.shift(500)  # the pass runs late; the record still says when the job really ended
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.started_at, job.completed_at) == (at(10), at(70))
    assert job.status_message == "Completed after 60 s."


def test_jobs_beyond_capacity_wait_queued(cluster, project, clock):
    jobs = [submit(cluster, project, name=f"j{i}") for i in range(3)]
    assert [j.status for j in jobs] == [Job.Status.PENDING, Job.Status.PENDING, Job.Status.QUEUED]
    assert jobs[2].admitted_at is None
    assert jobs[2].status_message == "Waiting for capacity."


def test_freed_capacity_admits_by_priority_then_fifo(cluster, project, clock):
    running = submit(cluster, project, name="running", resources=resources(gpus=8), duration=30)
    low = submit(cluster, project, name="low", resources=resources(gpus=8), priority="LOW")
    first = submit(cluster, project, name="first", resources=resources(gpus=8))
    clock.shift(1)
    second = submit(cluster, project, name="second", resources=resources(gpus=8))
    urgent = submit(cluster, project, name="urgent", resources=resources(gpus=8), priority="CRITICAL")
    order = []
    for _ in range(5):
        clock.shift(100)
        services.cluster_schedule_pass(cluster=cluster)
        admitted = Job.objects.filter(admitted_at__isnull=False).exclude(name__in=order).exclude(pk=running.pk)
        order.extend(admitted.values_list("name", flat=True))
    assert order == ["urgent", "first", "second", "low"]
    assert {j.pk for j in (low, first, second, urgent)} == set(
        Job.objects.exclude(pk=running.pk).values_list("pk", flat=True)
    )


def test_job_that_can_never_fit_fails_with_clear_message(cluster, project, clock):
    job = submit(cluster, project, resources=resources(gpus=4, replicas=3))
    assert job.status == Job.Status.FAILED
    assert job.status_message == "Can never fit on this cluster: Asks for 12 x H100-80GB; the cluster has 8 in total."
    assert job.completed_at == T0


def test_inventory_shrink_fails_waiting_jobs_that_no_longer_fit(cluster, project, clock):
    # The running service holds 4 H100s, no more than the smaller inventory has (less would be a 409).
    submit(cluster, project, resources=resources(gpus=4), job_type="SERVICE")
    waiting = submit(cluster, project, name="w", resources=resources(gpus=6))
    services.cluster_update(cluster=cluster, inventory={**cluster.inventory, "gpus": {"H100-80GB": 8, "A100-80GB": 4}})
    # The A100s stay: the cluster's prices name them (prices change through billing's price lists, not here).
    services.cluster_update(
        cluster=cluster, inventory={"gpus": {"H100-80GB": 5, "A100-80GB": 4}, "cpu_cores": 64, "memory_gib": 512}
    )
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.FAILED
    assert "the cluster has 5 in total" in waiting.status_message


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("resources", resources(gpus=1, gpu_type="TPU-v5"), "resources.gpu_type"),
        ("resources", {**resources(), "cpu": -1}, "resources.cpu"),
        ("resources", {**resources(), "memory_gib": 10**9}, "resources.memory_gib"),
        ("resources", {**resources(), "replicas": 0}, "resources.replicas"),
        ("resources", {**resources(), "gpu_count": 1000}, "resources.gpu_count"),
        ("resources", {**resources(), "disk": 3}, "resources.disk"),
        ("priority", "URGENT", "priority"),
        ("priority", 5000, "priority"),
        ("spec", {"kind": "helm", "repo": "http://charts.example.com", "chart": "x"}, "spec.repo"),
        ("spec", {"kind": "helm", "repo": "git@github.com:x/y", "chart": "x"}, "spec.repo"),
        (
            "spec",
            {"kind": "helm", "repo": "oci://r.io/c", "chart": "x", "values": {"hostNetwork": True}},
            "spec.values.hostNetwork",
        ),
        (
            "spec",
            {"kind": "helm", "repo": "https://c.io", "chart": "x", "values": {"pod": {"hostPID": True}}},
            "spec.values.pod.hostPID",
        ),
        ("spec", {"kind": "docker", "image": "x", "hostIPC": True}, "spec.hostIPC"),
        (
            "spec",
            {"kind": "helm", "repo": "https://c.io", "chart": "x", "values": {"securityContext": {"privileged": True}}},
            "spec.values.securityContext.privileged",
        ),
        ("spec", {"kind": "docker"}, "spec"),
        ("spec", {"kind": "ftp"}, "spec.kind"),
        ("labels", {"a": 1}, "labels.a"),
    ],
)
def test_bad_input_is_refused_with_field_path_and_nothing_recorded(cluster, project, field, value, path):
    with pytest.raises(ValidationError) as excinfo:
        submit(cluster, project, **{field: value})
    assert path in excinfo.value.errors, excinfo.value.errors
    assert not Job.objects.exists()


def test_unsafe_helm_value_error_says_why(cluster, project):
    spec = {"kind": "helm", "repo": "https://c.io", "chart": "x", "values": {"hostNetwork": True}}
    with pytest.raises(ValidationError) as excinfo:
        submit(cluster, project, spec=spec)
    assert "hostNetwork is not allowed" in excinfo.value.errors["spec.values.hostNetwork"][0]


def test_safe_helm_values_with_false_flags_are_accepted(cluster, project):
    spec = {
        "kind": "helm",
        "repo": "oci://registry.example.com/charts",
        "chart": "x",
        "values": {"hostNetwork": False, "securityContext": {"privileged": False}},
    }
    assert submit(cluster, project, spec=spec).pk


def test_service_with_duration_and_batch_without_are_refused(cluster, project):
    with pytest.raises(ValidationError) as excinfo:
        submit(cluster, project, job_type="SERVICE", duration_seconds=5)
    assert "duration_seconds" in excinfo.value.errors
    with pytest.raises(ValidationError):
        submit(cluster, project, job_type="BATCH", duration_seconds=None)


def test_project_of_another_tenant_is_refused(cluster, other_project):
    with pytest.raises(ValidationError) as excinfo:
        submit(cluster, other_project)
    assert "project_id" in excinfo.value.errors


def test_submit_to_draining_cluster_is_conflict(cluster, project):
    cluster.status = "DRAINING"
    cluster.save()
    with pytest.raises(Conflict):
        submit(cluster, project)


def test_priority_names_map_to_integers(cluster, project):
    assert submit(cluster, project, priority="high").priority == 75
    assert submit(cluster, project, priority="7").priority == 7


def test_submit_is_idempotent_per_component_attempt(cluster, project, clock):
    component = uuid.uuid4()
    first = submit(cluster, project, component_deployment_id=component, attempt=1)
    again = submit(cluster, project, name="other", component_deployment_id=component, attempt=1)
    retry = submit(cluster, project, component_deployment_id=component, attempt=2)
    assert again.pk == first.pk
    assert retry.pk != first.pk
    assert Job.objects.filter(component_deployment_id=component).count() == 2


# --- cancellation --------------------------------------------------------------------------------------------


def test_cancel_frees_capacity_and_admits_the_waiting_job(cluster, project, clock):
    holder = submit(cluster, project, name="holder", resources=resources(gpus=8), job_type="SERVICE")
    waiting = submit(cluster, project, name="waiting", resources=resources(gpus=8))
    assert waiting.status == Job.Status.QUEUED
    clock.shift(20)
    services.job_cancel(job=holder, reason="no longer needed")
    holder.refresh_from_db()
    waiting.refresh_from_db()
    assert holder.status == Job.Status.CANCELLED
    assert holder.status_message == "Cancelled: no longer needed"
    assert holder.completed_at == at(20)
    assert (waiting.status, waiting.admitted_at) == (Job.Status.PENDING, at(20))


def test_cancel_of_a_finished_job_is_conflict_and_changes_nothing(cluster, project, clock):
    job = submit(cluster, project, duration=5)
    clock.shift(60)
    with pytest.raises(Conflict):
        services.job_cancel(job=job)  # it finished at 15 s: the pass before cancelling records that
    job.refresh_from_db()
    assert (job.status, job.completed_at) == (Job.Status.SUCCEEDED, at(15))


def test_cancelled_job_cannot_start(cluster, project, clock):
    job = submit(cluster, project)
    services.job_cancel(job=job)
    clock.shift(100)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert (job.status, job.started_at) == (Job.Status.CANCELLED, None)


# --- failures ------------------------------------------------------------------------------------------------


def test_label_forces_failure_of_service_during_startup(cluster, project, clock):
    job = submit(cluster, project, job_type="SERVICE", labels={"simulate.fail": "true"})
    clock.shift(10)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.status_message == "Simulated failure forced by label simulate.fail=true."
    assert (job.started_at, job.completed_at, job.outputs) == (None, at(10), {})


def test_label_forced_batch_fails_halfway_and_is_billed_until_then(cluster, project, clock):
    job = submit(cluster, project, duration=3600, labels={"simulate.fail": "true"})
    clock.shift(4000)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert (job.status, job.completed_at) == (Job.Status.FAILED, at(10 + 1800))
    assert job.actual_cost == (job.hourly_rate / 2).quantize(Decimal("0.0001"))


def test_failure_rate_fails_a_deterministic_share(tenant, project, clock):
    cluster = ClusterFactory(
        tenant=tenant,
        simulation={"startup_seconds": {"default": 0}, "failure_rate": 0.5, "seed": 3},
        inventory={"gpus": {}, "cpu_cores": 1000, "memory_gib": 1000},
    )
    jobs = [submit(cluster, project, name=f"j{i}", resources=resources(), duration=10) for i in range(40)]
    clock.shift(20)
    services.cluster_schedule_pass(cluster=cluster)
    failed = Job.objects.filter(status=Job.Status.FAILED)
    assert 8 <= failed.count() <= 32
    assert set(failed.values_list("status_message", flat=True)) == {"Simulated failure (cluster failure_rate 0.5)."}
    assert Job.objects.filter(status=Job.Status.SUCCEEDED).count() == 40 - failed.count()
    assert len(jobs) == 40


# --- cost ----------------------------------------------------------------------------------------------------


def test_estimated_cost_is_hourly_rate_for_services_and_total_for_batch(cluster, project):
    service = submit(cluster, project, job_type="SERVICE", resources=resources(gpus=2, cpu=4, memory_gib=10))
    batch = submit(cluster, project, resources=resources(gpus=2, cpu=4, memory_gib=10), duration=1800)
    rate = Decimal("5.11")  # 2 x 2.5 + 4 x 0.02 + 10 x 0.003
    assert service.hourly_rate == rate
    assert service.estimated_cost == rate
    assert batch.estimated_cost == (rate / 2).quantize(Decimal("0.0001"))


def test_actual_cost_accrues_from_started_at_with_the_clock(cluster, project, clock):
    job = submit(cluster, project, job_type="SERVICE", resources=resources(gpus=4, cpu=0, memory_gib=0))
    clock.shift(10 + 1800)
    services.cluster_schedule_pass(cluster=cluster)
    job.refresh_from_db()
    assert job.actual_cost == Decimal("5.0000")  # 4 x 2.5 per hour for 30 minutes after starting at 10 s
    clock.shift(1800)
    services.job_cancel(job=job)
    job.refresh_from_db()
    assert job.actual_cost == Decimal("10.0000")


def test_estimate_hourly_cost_multiplies_replicas(cluster):
    rate = selectors.estimate_hourly_cost(cluster=cluster, resources=resources(gpus=1, cpu=0, memory_gib=0, replicas=3))
    assert rate == Decimal("7.5")


# --- predictions ---------------------------------------------------------------------------------------------


def test_queue_info_predicts_start_from_running_jobs_expected_end(cluster, project, clock):
    submit(cluster, project, name="a", resources=resources(gpus=8), duration=100)
    b = submit(cluster, project, name="b", resources=resources(gpus=8), duration=100)
    c = submit(cluster, project, name="c", resources=resources(gpus=8), duration=100)
    info = selectors.job_queue_info(job=c)
    assert info["queue_position"] == 2
    # a: starts 10, ends 110; b: admitted 110, starts 120, ends 220; c: admitted 220, starts 230.
    assert info["predicted_start"] == at(230)
    assert "1 job ahead in the H100-80GB queue" in info["reason"]
    assert selectors.job_queue_info(job=b)["predicted_start"] == at(120)


def test_predicted_start_matches_what_the_passes_do(cluster, project, clock):
    submit(cluster, project, name="a", resources=resources(gpus=8), duration=100)
    b = submit(cluster, project, name="b", resources=resources(gpus=8), duration=100)
    predicted = selectors.job_queue_info(job=b)["predicted_start"]
    while True:
        result = services.cluster_schedule_pass(cluster=cluster)
        b.refresh_from_db()
        if b.started_at or result.next_change_at is None:
            break
        clock.move_to(result.next_change_at)
    assert b.started_at == predicted


def test_waiting_behind_a_service_has_no_predicted_start(cluster, project, clock):
    submit(cluster, project, name="svc", resources=resources(gpus=8), job_type="SERVICE")
    waiting = submit(cluster, project, name="w", resources=resources(gpus=1))
    info = selectors.job_queue_info(job=waiting)
    assert (info["queue_position"], info["predicted_start"]) == (1, None)
    assert "held by services" in info["reason"]


def test_capacity_check_for_a_preview(cluster, project, clock):
    submit(cluster, project, name="a", resources=resources(gpus=6), duration=100)
    check = selectors.cluster_capacity_check(
        cluster=cluster, resources_list=[resources(gpus=2), resources(gpus=1, gpu_type="A100-80GB")]
    )
    assert check == {
        "fits_now": True,
        "predicted_start": at(10),
        "never_fits": [],
        "free": {"gpus": {"A100-80GB": 4, "H100-80GB": 2}, "cpu_cores": 63.0, "memory_gib": 511.0},
    }
    later = selectors.cluster_capacity_check(cluster=cluster, resources_list=[resources(gpus=4)])
    assert (later["fits_now"], later["predicted_start"]) == (False, at(120))
    assert Job.objects.count() == 1  # a preview records nothing


def test_capacity_check_reports_requests_that_never_fit(cluster):
    check = selectors.cluster_capacity_check(
        cluster=cluster, resources_list=[resources(gpus=1), resources(gpus=9), resources(gpus=1, gpu_type="TPU")]
    )
    assert check["fits_now"] is False
    assert check["predicted_start"] is None
    assert [item["index"] for item in check["never_fits"]] == [1, 2]
    assert "8 in total" in check["never_fits"][0]["reason"]


# --- updates and the beat --------------------------------------------------------------------------------------


def test_raising_priority_moves_a_job_ahead(cluster, project, clock):
    submit(cluster, project, name="svc", resources=resources(gpus=4), job_type="SERVICE")
    big = submit(cluster, project, name="big", resources=resources(gpus=8))
    small = submit(cluster, project, name="small", resources=resources(gpus=4))
    assert small.status == Job.Status.QUEUED  # behind the blocked head of its queue
    services.job_update(job=small, priority="HIGH")
    small.refresh_from_db()
    big.refresh_from_db()
    assert (small.priority, small.admitted_at) == (75, T0)
    assert big.admitted_at is None


def test_priority_of_a_finished_job_cannot_change(cluster, project):
    job = submit(cluster, project, resources=resources(gpus=9))
    with pytest.raises(Conflict):
        services.job_update(job=job, priority=10)
    assert services.job_update(job=job, labels={"team": "x"}).labels == {"team": "x"}


def test_advance_all_moves_every_cluster(cluster, project, tenant, clock):
    second = ClusterFactory(tenant=tenant)
    a = submit(cluster, project, duration=5)
    b = submit(second, project, duration=5)
    clock.shift(30)
    summary = services.jobs_advance_all()
    assert summary["clusters"] == 2
    assert set(Job.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {Job.Status.SUCCEEDED}
    assert services.jobs_advance_all()["clusters"] == 0


def test_pass_queries_do_not_grow_with_waiting_jobs(tenant, project, clock):
    def queries_for_a_pass(waiting: int) -> int:
        cluster = ClusterFactory(
            tenant=tenant, inventory={"gpus": {"H100-80GB": 2}, "cpu_cores": 100, "memory_gib": 100}
        )
        for i in range(2 + waiting):
            submit(cluster, project, name=f"j{i}", resources=resources(gpus=1), duration=5)
        clock.shift(60)
        with CaptureQueriesContext(connection) as ctx:
            result = services.cluster_schedule_pass(cluster=cluster)
        assert result.admitted == 2
        return len(ctx.captured_queries)

    assert queries_for_a_pass(5) == queries_for_a_pass(300)


def test_running_services_are_summed_by_the_database_with_the_same_result(cluster, project, clock):
    from jobs.drivers import get_driver
    from jobs.drivers.simulated_reads import holding_plans

    cluster.simulation = {"startup_seconds": {"default": 0}}
    cluster.save()
    for index in range(3):  # services that just run: summed, not replayed
        submit(cluster, project, name=f"svc-{index}", job_type="SERVICE", resources=resources(gpus=1, cpu=2))
    submit(cluster, project, name="batch", duration=600, resources=resources(gpus=2))  # an event ahead: replayed
    submit(cluster, project, name="waits", duration=60, resources=resources(gpus=4))  # does not fit yet
    driver = get_driver(cluster)
    full = driver.forecast(cluster=cluster, now=at(1))
    summed = driver.forecast(cluster=cluster, now=at(1), summarise_quiet=True)
    assert summed.free.as_dict() == full.free.as_dict()
    waiting = Job.objects.get(name="waits")
    assert summed.jobs[waiting.pk].predicted_start == full.jobs[waiting.pk].predicted_start == at(600)
    # only the job with an event ahead is replayed; the services' capacity arrives as one sum
    held, active = holding_plans(cluster, cluster.simulation, {}, summarise_quiet=True)
    assert [plan.id for plan in active] == [Job.objects.get(name="batch").pk]
    assert sum(demand.gpus for demand in held) == 3
    assert sum(demand.millicores for demand in held) == 3 * 2000
