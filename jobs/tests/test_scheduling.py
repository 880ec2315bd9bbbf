"""The pure planner: capacity, ordering, timing, failures and cost, with no database."""

import datetime as dt
from decimal import Decimal

from jobs.pricing import cost_between, hourly_rate
from jobs.scheduling import Capacity, Demand, ListQueue, PlanJob, Planner, order_key
from jobs.simulation import failure_draw, failure_message, startup_seconds

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TOTAL = Capacity.from_inventory({"gpus": {"H100": 8, "L4": 2}, "cpu_cores": 16, "memory_gib": 64})


def job(name, gpus=0, gpu_type="H100", cpu=1, priority=50, created=0, job_type="BATCH", duration=60, startup=0):
    resources = {"gpu_type": gpu_type, "gpu_count": gpus, "cpu": cpu, "memory_gib": 1, "replicas": 1}
    return PlanJob(
        id=name,
        demand=Demand.from_resources(resources),
        order=order_key(priority, created, name),
        job_type=job_type,
        startup=startup,
        duration=duration,
    )


def plan(jobs, active=()):
    lines = {}
    for j in jobs:
        lines.setdefault(j.demand.queue, []).append(j)
    return Planner(total=TOTAL, active=list(active), queues={k: ListQueue(v) for k, v in lines.items()})


def running_batch(*, gpus, cpu, ends_in):
    held = job("running", gpus=gpus, cpu=cpu, duration=ends_in)
    held.admitted_at = held.started_at = T0
    return held


def admitted(planner):
    return [e.job.id for e in planner.events if e.kind == "admit"]


def test_replicas_multiply_the_demand():
    demand = Demand.from_resources({"gpu_type": "H100", "gpu_count": 2, "cpu": 0.5, "memory_gib": 4, "replicas": 3})
    assert (demand.gpus, demand.millicores, demand.memory_mib) == (6, 1500, 12288)


def test_admits_only_what_fits_and_queues_the_rest():
    planner = plan([job("a", gpus=4), job("b", gpus=4, created=1), job("c", gpus=4, created=2)])
    planner.run_until(T0)
    assert admitted(planner) == ["a", "b"]
    assert planner.free.gpus["H100"] == 0


def test_higher_priority_is_admitted_first_then_fifo():
    jobs = [job("old", gpus=8), job("new", gpus=8, created=5), job("urgent", gpus=8, priority=100, created=9)]
    planner = plan(jobs)
    planner.predict(T0)
    order = admitted(planner)
    assert order == ["urgent", "old", "new"]


def test_a_blocked_head_does_not_block_other_gpu_types():
    planner = plan(
        [job("big", gpus=8), job("bigger", gpus=8, created=1), job("small-l4", gpus=1, gpu_type="L4", created=2)]
    )
    planner.run_until(T0)
    assert admitted(planner) == ["big", "small-l4"]


def test_a_blocked_head_keeps_what_it_needs_from_later_jobs_of_other_queues():
    # 16 CPU in total. "critical" waits for the H100s held by "batch" and needs 12 CPU; a later, lower-priority
    # CPU job must not take the CPU it needs (it would, again and again, and starve it).
    planner = plan(
        [
            job("critical", gpus=8, cpu=12, priority=100, created=1),
            job("cpu-low", cpu=8, priority=0, created=2),
            job("cpu-small", cpu=1, priority=0, created=3),
        ],
        active=[running_batch(gpus=8, cpu=4, ends_in=60)],
    )
    planner.run_until(T0)
    # batch holds 4 CPU, critical reserves the 12 left: nothing else fits now.
    assert admitted(planner) == []
    planner.predict(T0)
    assert admitted(planner) == ["critical", "cpu-low", "cpu-small"]
    admits = {e.job.id: e.time for e in planner.events if e.kind == "admit"}
    assert admits["critical"] == T0 + dt.timedelta(seconds=60)  # when the batch job ends
    assert admits["cpu-low"] == T0 + dt.timedelta(seconds=120)  # when critical ends


def test_a_blocked_head_lets_later_jobs_use_what_it_does_not_need():
    planner = plan(
        [job("critical", gpus=8, cpu=4, priority=100, created=1), job("cpu-low", cpu=8, priority=0, created=2)],
        active=[running_batch(gpus=8, cpu=4, ends_in=60)],
    )
    planner.run_until(T0)
    assert admitted(planner) == ["cpu-low"]  # 16 CPU - 4 held - 4 reserved leaves 8


def test_a_blocked_head_blocks_smaller_jobs_of_its_queue():
    planner = plan([job("half", gpus=4), job("whole", gpus=8, created=1), job("small", gpus=1, created=2)])
    planner.run_until(T0)
    assert admitted(planner) == ["half"]


def test_never_fitting_job_is_reported_and_skipped():
    planner = plan([job("huge", gpus=9), job("ok", gpus=1, created=1)])
    planner.run_until(T0)
    never = [e for e in planner.events if e.kind == "never_fits"]
    assert [e.job.id for e in never] == ["huge"]
    assert "9 x H100" in never[0].message and "8 in total" in never[0].message
    assert admitted(planner) == ["ok"]


def test_prediction_starts_waiting_jobs_when_capacity_frees():
    planner = plan([job("a", gpus=8, duration=60, startup=5), job("b", gpus=8, created=1, duration=30, startup=5)])
    planner.predict(T0)
    starts = {e.job.id: e.time for e in planner.events if e.kind == "start"}
    assert starts["a"] == T0 + dt.timedelta(seconds=5)
    # a ends at 65 s; b is admitted then and starts 5 s later.
    assert starts["b"] == T0 + dt.timedelta(seconds=70)


def test_services_never_release_capacity():
    planner = plan([job("svc", gpus=8, job_type="SERVICE", duration=None), job("b", gpus=1, created=1)])
    planner.predict(T0)
    assert admitted(planner) == ["svc"]


def test_forced_label_fails_with_reason():
    message = failure_message({}, job_id="x", labels={"simulate.fail": "true"})
    assert message == "Simulated failure forced by label simulate.fail=true."


def test_failure_rate_is_deterministic_per_seed_and_job():
    draws = [failure_draw(7, f"job-{i}") for i in range(200)]
    assert draws == [failure_draw(7, f"job-{i}") for i in range(200)]
    assert draws != [failure_draw(8, f"job-{i}") for i in range(200)]
    failing = sum(
        1 for i in range(200) if failure_message({"failure_rate": 0.25, "seed": 7}, job_id=f"job-{i}", labels={})
    )
    assert 30 < failing < 70


def test_startup_seconds_by_kind_then_type_then_default():
    table = {"startup_seconds": {"default": 5, "helm": 20, "BATCH": 1}}
    assert startup_seconds(table, kind="helm", job_type="SERVICE") == 20
    assert startup_seconds(table, kind="docker", job_type="BATCH") == 1
    assert startup_seconds(table, kind="docker", job_type="SERVICE") == 5


def test_hourly_rate_and_cost_between():
    prices = {"gpu_hour": {"H100": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.005}
    rate = hourly_rate(prices, {"gpu_type": "H100", "gpu_count": 2, "cpu": 10, "memory_gib": 100, "replicas": 2})
    assert rate == Decimal("11.400000")  # 2 x (5 + 0.2 + 0.5)
    assert cost_between(rate, T0, T0 + dt.timedelta(minutes=30)) == Decimal("5.7000")
