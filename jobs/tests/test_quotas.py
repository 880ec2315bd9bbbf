"""Quotas, cohorts, fair share and preemption in the pure planner (no database)."""

import datetime as dt

import pytest

from jobs.quotas import QueueSpec, QuotaBook, gpu_key, vector_from_quota, weighted_fair_shares
from jobs.scheduling import Capacity, Demand, ListQueue, PlanJob, Planner, order_key

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
H100 = gpu_key("H100")
SIXTEEN = Capacity.from_inventory({"gpus": {"H100": 16}, "cpu_cores": 64, "memory_gib": 64})
BIG = Capacity.from_inventory({"gpus": {"H100": 64}, "cpu_cores": 512, "memory_gib": 4096})


def queue(name, gpus, cohort="c", **kwargs):
    return QueueSpec(id=name, name=name, nominal={H100: gpus}, cohort=cohort, **kwargs)


def job(name, q, gpus, *, priority=50, seq=0, duration=3600, job_type="BATCH", replicas=1):
    resources = {"gpu_type": "H100", "gpu_count": gpus, "cpu": 1, "memory_gib": 1, "replicas": replicas}
    return PlanJob(
        id=name,
        demand=Demand.from_resources(resources),
        order=order_key(priority, seq, name),
        job_type=job_type,
        startup=0,
        duration=duration,
        queue=q,
    )


def running(name, q, gpus, **kwargs):
    plan = job(name, q, gpus, **kwargs)
    plan.admitted_at = plan.started_at = T0 - dt.timedelta(minutes=5)
    return plan


def planner(queues, waiting, active=(), total=BIG, preempting=True):
    lines: dict = {}
    for plan in waiting:
        lines.setdefault(f"{plan.queue}|{plan.demand.queue}", []).append(plan)
    return Planner(
        total=total,
        active=list(active),
        queues={key: ListQueue(plans) for key, plans in lines.items()},
        quota=QuotaBook(queues),
        preempting=preempting,
    )


def kinds(p, kind):
    return sorted(e.job.id for e in p.events if e.kind == kind)


def test_quota_shape_converts_to_units():
    assert vector_from_quota({"gpus": {"H100": 8}, "cpu_cores": 1.5, "memory_gib": 2}) == {
        H100: 8,
        "cpu": 1500,
        "memory": 2048,
    }


def test_without_cohort_a_queue_never_exceeds_its_nominal_quota():
    p = planner([queue("a", 8, cohort=None)], [job(f"j{i}", "a", 2, seq=i) for i in range(6)])
    p.run_until(T0)
    assert kinds(p, "admit") == ["j0", "j1", "j2", "j3"]
    assert "Waiting for quota in queue a: needs 2 x H100 GPU" in p.waits["j4"].describe()


def test_a_queue_borrows_the_unused_quota_of_its_cohort():
    p = planner([queue("a", 8), queue("b", 8)], [job(f"j{i}", "a", 4, seq=i) for i in range(5)])
    p.run_until(T0)
    assert len(kinds(p, "admit")) == 4  # its 8 and b's 8


def test_borrowing_limit_caps_what_a_queue_borrows():
    queues = [queue("a", 8, borrowing_limit={H100: 4}), queue("b", 8)]
    p = planner(queues, [job(f"j{i}", "a", 2, seq=i) for i in range(10)])
    p.run_until(T0)
    assert len(kinds(p, "admit")) == 6  # 8 + 4
    assert p.quota.used("a", H100) == 12


def test_lending_limit_caps_what_others_borrow():
    queues = [queue("a", 8), queue("b", 8, lending_limit={H100: 2})]
    p = planner(queues, [job(f"j{i}", "a", 2, seq=i) for i in range(10)])
    p.run_until(T0)
    assert p.quota.used("a", H100) == 10
    # b's guaranteed 6 stay free for b even while a borrows (the 2 it lent come back by reclaim).
    assert p.quota.available("b", H100) == 6


def test_a_resource_the_queue_does_not_name_is_not_limited():
    spec = QueueSpec(id="a", name="a", nominal={"cpu": 1000})
    p = planner([spec], [job("g", "a", 16)])
    p.run_until(T0)
    assert kinds(p, "admit") == ["g"]


def test_a_gang_is_admitted_whole_or_not_at_all():
    # 4 workers x 8 GPUs asks 32; queue a may use 24 now (b uses its own 8): nothing is held, and a job of a
    # queue outside the cohort runs meanwhile.
    queues = [queue("a", 24), queue("b", 8), queue("d", 8, cohort=None)]
    gang = job("gang", "a", 8, replicas=4)
    p = planner(queues, [gang, job("small", "d", 8, seq=1)], active=[running("b0", "b", 8)])
    p.run_until(T0)
    assert kinds(p, "admit") == ["small"]
    assert p.quota.used("a", H100) == 0
    assert p.free.gpus["H100"] == 64 - 16
    assert p.waits["gang"].needs == 32 and p.waits["gang"].available == 24


def test_a_gang_larger_than_the_queue_may_ever_use_fails_with_the_reason():
    p = planner([queue("a", 8, cohort=None)], [job("gang", "a", 8, replicas=2)])
    p.run_until(T0)
    (event,) = [e for e in p.events if e.kind == "never_fits"]
    assert "queue a may never use more than 8 x H100 GPU" in event.message


def test_reclaim_preempts_the_borrower_lowest_priority_newest_first_not_the_owner():
    queues = [queue("a", 8), queue("b", 8, reclaim_within_cohort="Any")]
    active = [
        running("a-own-1", "a", 4, seq=1),
        running("a-own-2", "a", 4, seq=2),
        running("a-borrow-old", "a", 4, seq=3, priority=10),
        running("a-borrow-new", "a", 4, seq=4, priority=10),
    ]
    p = planner(queues, [job("b1", "b", 4, seq=10)], active=active, total=SIXTEEN)
    p.run_until(T0)
    assert kinds(p, "preempt") == ["a-borrow-new"]
    assert kinds(p, "admit") == ["b1"]
    (event,) = [e for e in p.events if e.kind == "preempt"]
    assert event.by.id == "b1" and "reclaimed" in event.message


def test_reclaim_never_takes_what_the_lender_uses_within_its_own_nominal_quota():
    queues = [queue("a", 8), queue("b", 8, reclaim_within_cohort="Any")]
    active = [running("a1", "a", 8), running("b1", "b", 8)]
    p = planner(queues, [job("b2", "b", 4, seq=10)], active=active)
    p.run_until(T0)
    assert kinds(p, "preempt") == [] and kinds(p, "admit") == []


def test_reclaim_policy_lower_priority_spares_equal_priority_borrowers():
    queues = [queue("a", 8), queue("b", 8, reclaim_within_cohort="LowerPriority")]
    active = [running("a1", "a", 8), running("a2", "a", 8, priority=50)]
    p = planner(queues, [job("b1", "b", 8, seq=10, priority=50)], active=active)
    p.run_until(T0)
    assert kinds(p, "preempt") == []


def test_within_queue_priority_preemption_only_when_the_policy_allows():
    for policy, expected in (("Never", []), ("LowerPriority", ["low"])):
        spec = queue("a", 8, cohort=None, within_cluster_queue=policy)
        p = planner([spec], [job("high", "a", 8, seq=5, priority=90)], active=[running("low", "a", 8, priority=10)])
        p.run_until(T0)
        assert kinds(p, "preempt") == expected
        assert kinds(p, "admit") == (["high"] if expected else [])


def test_preemption_that_would_not_make_room_on_the_cluster_preempts_nothing():
    # The quota would allow it, the cluster could not: an unqueued job holds the rest.
    total = Capacity.from_inventory({"gpus": {"H100": 8}, "cpu_cores": 64, "memory_gib": 64})
    queues = [queue("a", 8), queue("b", 8, reclaim_within_cohort="Any")]
    outside = running("outside", None, 6)
    p = planner(queues, [job("b1", "b", 8, seq=10)], active=[running("a1", "a", 2), outside], total=total)
    p.run_until(T0)
    assert kinds(p, "preempt") == []


def test_borrowers_wait_until_every_job_within_its_quota_is_served():
    queues = [queue("a", 4), queue("b", 4)]
    waiting = [job("a-borrow", "a", 4, seq=1, priority=99), job("a-own", "a", 4, seq=2), job("b-own", "b", 4, seq=3)]
    # a's line is strict FIFO (priority first): a-borrow is its head. Within quota first: it is admitted
    # within a's nominal (share 0 after admission), then b's job within b's; a-own would borrow and waits.
    p = planner(queues, waiting)
    p.run_until(T0)
    assert kinds(p, "admit") == ["a-borrow", "b-own"]


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 1), (1, 1, 4)])
def test_fair_shares_converge_in_a_contended_run(weights):
    """Three queues with no quota of their own borrow a 24-GPU pool; each keeps work waiting all day. Their
    GPU-hours converge to the weighted shares within 5%."""
    pool = QueueSpec(id="pool", name="pool", nominal={H100: 24}, cohort="c")
    teams = [queue(f"t{i}", 0, weight=w) for i, w in enumerate(weights)]
    total = Capacity.from_inventory({"gpus": {"H100": 24}, "cpu_cores": 512, "memory_gib": 4096})
    waiting = []
    sizes = (1, 2, 4, 8)
    for i, team in enumerate(teams):
        for n in range(600):
            waiting.append(
                job(f"{team.id}-{n}", team.id, sizes[(n + i) % 4], seq=n * 3 + i, duration=600 + 60 * (n % 7))
            )
    p = planner([pool, *teams], waiting, total=total)
    horizon = T0 + dt.timedelta(hours=24)
    p.run_until(T0)
    while p.next_event_at and p.next_event_at <= horizon:
        t = p.next_event_at
        p.process_until(t)
        p._admit(t)
    gpu_seconds = dict.fromkeys((t.id for t in teams), 0.0)
    by_id = {plan.id: plan for plan in waiting}
    for event in p.events:
        if event.kind == "start":
            plan = by_id[event.job.id]
            end = min(event.time + dt.timedelta(seconds=plan.duration), horizon)
            gpu_seconds[plan.queue] += plan.demand.gpus * max(0.0, (end - event.time).total_seconds())
    used = sum(gpu_seconds.values())
    expected = weighted_fair_shares(used, {t.id: t.weight for t in teams}, {t.id: used for t in teams})
    for team in teams:
        assert abs(gpu_seconds[team.id] / expected[team.id] - 1) < 0.05, (gpu_seconds, expected)


def test_water_filling_hands_unused_share_on_by_weight():
    shares = weighted_fair_shares(12, {"a": 1, "b": 1, "c": 2}, {"a": 1, "b": 100, "c": 100})
    assert shares == pytest.approx({"a": 1, "b": 11 / 3, "c": 22 / 3})
