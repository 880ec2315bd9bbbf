"""The simulated driver's forecast: the planner run ahead of time over every waiting job (passed or not), for
queue positions, predicted starts and why a job waits. Reads no spec: start-up times come from the kind column."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.drivers.base import Forecast, JobForecast
from jobs.drivers.queues import cluster_quota_book, line_key
from jobs.drivers.simulated_reads import PASS_FIELDS, holding_plans, plan_job, waiting_queryset
from jobs.models import Cluster
from jobs.scheduling import SERVICE, Capacity, ListQueue, PlanJob, Planner


def forecast(*, cluster: Cluster, now: datetime, extra: list | None = None, summarise_quiet: bool = False) -> Forecast:
    """Predicted admissions, starts and ends of every job on the cluster, and why each waiting job waits."""
    simulation = cluster.simulation or {}
    total = Capacity.from_inventory(cluster.inventory)
    held, active = holding_plans(cluster, simulation, {}, summarise_quiet=summarise_quiet)
    book, _, book_at = cluster_quota_book(cluster)
    lines: dict[str, list[PlanJob]] = {}
    for job in waiting_queryset(cluster).only(*PASS_FIELDS, "queue_key").order_by("-priority", "sequence", "id"):
        plan = plan_job(job, simulation)
        lines.setdefault(line_key(job.queue_key, job.cluster_queue_id), []).append(plan)
    for plan in extra or []:
        lines.setdefault(plan.demand.queue, []).append(plan)
    forecasts: dict = {}
    for plans in lines.values():
        for position, plan in enumerate(sorted(plans, key=lambda p: p.order), start=1):
            forecasts[plan.id] = JobForecast(queue=plan.demand.queue, queue_position=position)
    for plan in active:
        forecasts[plan.id] = JobForecast(queue=plan.demand.queue, predicted_admission=plan.admitted_at)

    planner = Planner(
        total=total,
        active=active,
        queues={key: ListQueue(plans) for key, plans in lines.items()},
        admitting=cluster.status == Cluster.Status.ACTIVE,
        held=held,
        quota=book,
        quota_at=book_at,
    )
    planner.process_until(now)  # jobs due to end by now have released their capacity, pass or no pass
    free_before = planner.free.copy()
    planner.run_until(now)
    waits = dict(planner.waits)  # why heads wait for quota now (later admissions clear them from the planner)
    planner.predict(now)
    for event in planner.events:
        item = forecasts[event.job.id]
        if event.kind == "admit":
            item.predicted_admission = event.time
        elif event.kind == "start":
            item.predicted_start = event.time
        elif event.kind in ("succeed", "fail"):
            item.predicted_end = event.time
        elif event.kind == "never_fits":
            item.never_fits = event.message
    # The prediction stops once nobody waits: whoever is admitted but not yet running starts after start-up.
    plans_by_id = {plan.id: plan for plan in active}
    plans_by_id.update({plan.id: plan for plans in lines.values() for plan in plans})
    for job_id, item in forecasts.items():
        plan = plans_by_id[job_id]
        starts = not (plan.fails and plan.job_type == SERVICE)
        if item.predicted_start is None and plan.started_at is None and item.predicted_admission and starts:
            item.predicted_start = item.predicted_admission + timedelta(seconds=plan.startup)
    for plans in lines.values():
        for plan in plans:
            item = forecasts[plan.id]
            item.reason = _reason(item, plan, free_before, cluster, waits.get(plan.id), book)
    return Forecast(now=now, total=total, free=free_before, jobs=forecasts)


def _reason(item: JobForecast, plan: PlanJob, free: Capacity, cluster: Cluster, blocked=None, book=None) -> str:
    if item.never_fits:
        return f"Can never fit on this cluster: {item.never_fits}"
    if cluster.status != Cluster.Status.ACTIVE:
        return f"The cluster is {cluster.status} and admits no jobs."
    ahead = (item.queue_position or 1) - 1
    line = f"the {item.queue} queue"
    if book is not None and plan.queue in book.queues:
        line = f"the {item.queue} line of queue {book.queues[plan.queue].name}"
    if blocked is not None:
        text = blocked.describe()
    else:
        text = f"Waiting for capacity: needs {plan.demand.describe()}; free now: {free.describe()}"
    if ahead:
        text += f"; {ahead} job{'s' if ahead != 1 else ''} ahead in {line}"
    if item.predicted_start is None:
        text += "; the capacity it needs is held by services that run until cancelled"
    return text + "."
