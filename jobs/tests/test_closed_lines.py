"""A pass reads only the lines that may admit: a line whose queue uses all it may of the line's GPU type is closed
(`QuotaBook.closed`) and the planner blocks it without reading its head, with the same admissions as reading it."""

import datetime as dt

from jobs.quotas import QueueSpec, QuotaBook, gpu_key
from jobs.scheduling import Capacity, Demand, ListQueue, PlanJob, Planner, order_key

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
H100 = gpu_key("H100")
BIG = Capacity.from_inventory({"gpus": {"H100": 64}, "cpu_cores": 512, "memory_gib": 4096})


def plan(name, queue, gpus, *, seq=0, duration=600, admitted=False):
    job = PlanJob(
        id=name,
        demand=Demand.from_resources({"gpu_type": "H100", "gpu_count": gpus, "cpu": 1, "memory_gib": 1}),
        order=order_key(50, seq, name),
        job_type="BATCH",
        startup=0,
        duration=duration,
        queue=queue,
    )
    if admitted:
        job.admitted_at = job.started_at = T0 - dt.timedelta(seconds=60)
    return job


class CountingLine(ListQueue):
    """A line as a pass reads it from the database: it says which quota it counts against, and records peeks."""

    def __init__(self, jobs, quota_line):
        super().__init__(jobs)
        self.quota_line = quota_line
        self.peeked = 0

    def peek(self):
        self.peeked += 1
        return super().peek()


def book(*queues):
    return QuotaBook(list(queues), half_life=0)


def test_a_queue_is_closed_only_when_it_holds_all_it_may_and_its_cohort_pool_is_used_up():
    alone = QueueSpec(id="alone", name="alone", nominal={H100: 4}, reclaim_within_cohort="Any")  # no cohort: moot
    quotas = book(alone)
    assert not quotas.closed("alone", H100)  # holds nothing
    quotas.take(plan("a", "alone", 2, admitted=True).holder())
    assert not quotas.closed("alone", H100)  # may take 2 more
    quotas.take(plan("b", "alone", 2, admitted=True).holder())
    assert quotas.closed("alone", H100)
    assert not quotas.closed("alone", gpu_key("A100"))  # a resource the queue does not limit

    a, b = (QueueSpec(id=n, name=n, nominal={H100: 2}, cohort="c") for n in "ab")
    quotas = book(a, b)
    quotas.take(plan("a1", "a", 2, admitted=True).holder())
    assert not quotas.closed("a", H100)  # b's unused quota may be borrowed
    quotas.take(plan("b1", "b", 2, admitted=True).holder())
    assert quotas.closed("a", H100) and quotas.closed("b", H100)


def test_a_queue_whose_cohort_may_preempt_is_never_closed():
    a = QueueSpec(id="a", name="a", nominal={H100: 2}, cohort="c", reclaim_within_cohort="Any")
    b = QueueSpec(id="b", name="b", nominal={H100: 2}, cohort="c")
    quotas = book(a, b)
    quotas.take(plan("a1", "a", 2, admitted=True).holder())
    quotas.take(plan("b1", "b", 2, admitted=True).holder())
    assert not quotas.closed("a", H100) and not quotas.closed("b", H100)  # a reclaim may give quota back in a pass


def test_a_pass_does_not_read_a_closed_line_and_admits_the_same_jobs():
    full = QueueSpec(id="full", name="full", nominal={H100: 4})
    free = QueueSpec(id="free", name="free", nominal={H100: 4})

    def run(lines):
        planner = Planner(
            total=BIG,
            active=[plan("held", "full", 4, admitted=True, duration=3600)],
            queues=lines,
            quota=book(full, free),
        )
        planner.run_until(T0)
        return planner, [(e.kind, e.job.id) for e in planner.events if e.kind == "admit"]

    def waiting():
        return [plan(f"f{n}", "full", 1, seq=n) for n in range(3)], [plan(f"g{n}", "free", 2, seq=n) for n in range(3)]

    waiting_full, waiting_free = waiting()
    closed = CountingLine(waiting_full, ("full", H100))
    open_ = CountingLine(waiting_free, ("free", H100))
    _, admitted = run({"H100|full": closed, "H100|free": open_})
    assert closed.peeked == 0 and open_.peeked > 0
    assert admitted == [("admit", "g0"), ("admit", "g1")]
    # The same lines read in full (no quota_line): the same admissions.
    waiting_full, waiting_free = waiting()
    _, plain = run({"H100|full": ListQueue(waiting_full), "H100|free": ListQueue(waiting_free)})
    assert plain == admitted
