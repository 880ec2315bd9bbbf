"""The request gateway: what happens to one request sent to a deployment's stable endpoint.

`handle` is the whole path of a request, in this order: authenticate the key (401), check it belongs to the
endpoint (404), count it against the key's rate limit (429), then `dispatch`, and count the outcome per minute.
`dispatch(endpoint, request)` is the one function that decides what to do with an admitted request — today:
the component that serves answers (simulated), or 503 when none does. The request queue, cold starts and scale
from zero plug in there and nowhere else (see /work/notes/18a-interface.md and docs/architecture.md).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from autoscaling import endpoint_queue as queue
from autoscaling.services import deployment_wake_up
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.state import DeploymentStatus
from serving import selectors, services
from serving.models import DEFAULT_PRIORITY, EndpointQueue
from serving.ratelimit import rate_limit_hit
from templates_app.routing import plan_routing

UNROUTABLE = (DeploymentStatus.DELETING, DeploymentStatus.DELETED)


@dataclass(frozen=True)
class Endpoint:
    """A deployment's stable entry point, resolved for one request: where its requests go (by component key)."""

    deployment: UseCaseDeployment
    slug: str
    component_key: str  # the template's component id the endpoint routes to (routing.api / expose / natural entry)
    path_prefix: str  # routing.path: prepended to the request's path on the component

    @classmethod
    def of(cls, deployment: UseCaseDeployment) -> Endpoint:
        routing = plan_routing(deployment.plan)
        return cls(deployment, deployment.endpoint_slug, routing["component"], routing["path"])


@dataclass(frozen=True)
class RequestInfo:
    """What the gateway knows of an admitted request (the body itself is not kept)."""

    method: str
    path: str  # after the endpoint's slug, without the leading slash: "chat/completions"
    body_bytes: int
    key_id: uuid.UUID
    received_at: datetime
    priority: int = DEFAULT_PRIORITY  # the key's queue priority (0 first)
    ticket: str = ""  # X-Queue-Ticket: the place this request was given in the endpoint's queue earlier


@dataclass(frozen=True)
class Outcome:
    """The gateway's answer: HTTP status, JSON body, headers, and which per-minute counter it adds to."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict)
    counter: str = ""  # a serving.models.EndpointTraffic column, or "" (not counted: no endpoint to count it on)
    extra: dict = field(default_factory=dict)  # more EndpointTraffic amounts (queue waits, lengths, drops)


def _error(status: int, detail: str, *, counter: str = "", headers: dict | None = None) -> Outcome:
    return Outcome(status, {"detail": detail, "errors": {}}, headers or {}, counter)


def bearer_secret(authorization: str) -> str:
    scheme, _, secret = (authorization or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def handle(
    *, slug: str, path: str, method: str, authorization: str, body_bytes: int, now: datetime, ticket: str = ""
) -> Outcome:
    """Everything the gateway does with one request, counted on the endpoint's per-minute traffic row."""
    deployment_id, outcome = _admit(
        slug=slug, path=path, method=method, authorization=authorization, body_bytes=body_bytes, now=now, ticket=ticket
    )
    if (outcome.counter or outcome.extra) and deployment_id is not None:
        services.traffic_count(deployment_id=deployment_id, at=now, column=outcome.counter, extra=outcome.extra)
    return outcome


def _admit(*, slug, path, method, authorization, body_bytes, now, ticket="") -> tuple[uuid.UUID | None, Outcome]:
    secret = bearer_secret(authorization)
    key = selectors.key_for_secret(digest=services.key_digest(secret)) if secret else None
    if key is None or key.revoked_at is not None:
        # Counted on the endpoint the caller named, if it exists (one more query, on the refusal path only).
        target = selectors.deployment_for_slug(slug=slug)
        detail = "Revoked key." if key is not None else "Send a deployment key: Authorization: Bearer <key>."
        return (target.pk if target else None), _error(
            401, detail, counter="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="endpoint"'}
        )
    deployment = key.deployment
    # Another endpoint's key, or a deleted deployment: the same 404 as an unknown endpoint (nothing leaks).
    if deployment.endpoint_slug != slug or deployment.status in UNROUTABLE:
        return None, _error(404, "No such endpoint for this key.")
    decision = rate_limit_hit(key_id=key.pk, limit=key.rate_limit, now=now.timestamp())
    if not decision.allowed:
        return deployment.pk, _error(
            429,
            f"Rate limit of {decision.limit} requests per minute exceeded.",
            counter="throttled",
            headers={"Retry-After": str(decision.retry_after), "X-RateLimit-Limit": str(decision.limit)},
        )
    services.key_touch(key=key, now=now)
    info = RequestInfo(
        method=method,
        path=path,
        body_bytes=body_bytes,
        key_id=key.pk,
        received_at=now,
        priority=key.priority,
        ticket=ticket[:64],
    )
    return deployment.pk, dispatch(Endpoint.of(deployment), info)


def dispatch(endpoint: Endpoint, request: RequestInfo) -> Outcome:
    """Decide what to do with an admitted request: the hand-off point of the request queue and cold starts.

    The row serving the endpoint's component answers if it runs (a simulated response naming it). If it cannot
    (scaled to zero, which this request wakes, or not running), the request joins the endpoint's queue and is told
    its place, a ticket (X-Queue-Ticket) and when to come back (503 + Retry-After); a full queue is 429. A request
    that comes back with its ticket keeps its place, is served (and its wait recorded) once the component runs, or
    is refused (429) if it waited past the queue's timeout."""
    deployment = endpoint.deployment
    if deployment.status == DeploymentStatus.SCALED_TO_ZERO:
        # The first request at zero wakes the deployment; it waits in the queue for the cold start.
        starts = deployment_wake_up(
            user=None, deployment=deployment, now=request.received_at, reason="a request arrived at zero"
        )
        seconds = math.ceil(max((start.total_s for start in starts.values()), default=5.0))
        why = f"The deployment was scaled to zero and is starting: ready in about {seconds} s (cold start)"
        return _wait(endpoint, request, why, seconds)
    row = selectors.serving_component(deployment_id=deployment.pk, key=endpoint.component_key)
    if row is None or row.status != ComponentDeployment.Status.RUNNING:
        state = row.status if row is not None else "absent"
        why = f"No running {endpoint.component_key!r} serves this endpoint now ({state})"
        return _wait(endpoint, request, why, 5)
    settings = endpoint_settings(deployment)  # joined to the key's query: no query of its own
    limit_of = concurrency_limit(deployment, row, settings)
    if limit_of is not None and queue.available():
        counted, replicas, per_replica = limit_of
        limit = replicas * per_replica
        hold = (sized_latency(deployment.plan) or {}).get("e2e_s") or 1.0
        slot = queue.acquire(
            deployment_id=deployment.pk,
            ticket=request.ticket,
            now=request.received_at.timestamp(),
            hold_s=hold,
            limit=limit,
            timeout_s=settings.timeout_s,
        )
        if not slot.taken:
            why = (
                f"The {replicas} running replica(s) of {counted!r} are saturated "
                f"({slot.in_flight} of {limit} requests in flight)"
                if replicas
                else f"No running replica of {counted!r} serves the endpoint now"
            )
            return _wait(endpoint, request, why, max(1, math.ceil(hold)), settings=settings)
    if request.ticket and queue.available():
        left = queue.leave(
            deployment_id=deployment.pk,
            ticket=request.ticket,
            now=request.received_at.timestamp(),
            timeout_s=settings.timeout_s,
        )
        if left.arrival is None:
            return _expired(settings, left)
        wait_ms = max(0, round((request.received_at.timestamp() - left.arrival) * 1000))
        extra = {"dequeued": 1, "queue_wait_ms": wait_ms, "queue_wait_max_ms": wait_ms, "queue_timeout": left.dropped}
        body = simulated_response(endpoint, request, row) | {"queue": {"waited_ms": wait_ms}}
        return Outcome(200, body, {}, "served", extra)
    return Outcome(200, simulated_response(endpoint, request, row), {}, "served")


def sized_llm(plan: dict) -> tuple[str, int] | None:
    """The sized LLM of the plan (plan["sizing"], written at deploy time): its component key and the concurrency
    one replica runs at within the SLO (the sizing's `concurrency_per_replica`); None when no LLM was sized."""
    for key, entry in sorted(((plan.get("sizing") or {}).get("components") or {}).items()):
        per_replica = (entry.get("chosen") or {}).get("concurrency_per_replica")
        if entry.get("kind") == "sized" and isinstance(per_replica, int) and per_replica > 0:
            return key, per_replica
    return None


def concurrency_limit(
    deployment: UseCaseDeployment, routed: ComponentDeployment, settings: EndpointQueue
) -> tuple[str, int, int] | None:
    """What bounds the requests in flight: (the component counted, its running replicas, requests per replica).

    The LLM is what saturates, not the component the endpoint routes to (an orchestrator in front of it): with a
    sized LLM the limit is its running replicas x the sized per-replica concurrency (the queue's
    `concurrency_per_replica` overrides the figure when set). Without one, the routed component's replicas x the
    queue's setting; None (no limit) when neither gives a figure."""
    sized = sized_llm(deployment.plan)
    if sized is None:
        if not settings.concurrency_per_replica:
            return None
        return routed.key, _running_replicas(routed), settings.concurrency_per_replica
    key, per_replica = sized
    row = routed if key == routed.key else selectors.serving_component(deployment_id=deployment.pk, key=key)
    return key, _running_replicas(row), settings.concurrency_per_replica or per_replica


def _running_replicas(row: ComponentDeployment | None) -> int:
    """The replicas a serving row runs now (0 when it does not run: every request then waits for it)."""
    if row is None or row.status != ComponentDeployment.Status.RUNNING:
        return 0
    return max(1, int((row.job.resources if row.job_id else {}).get("replicas", 1)))


def endpoint_settings(deployment: UseCaseDeployment) -> EndpointQueue:
    """The endpoint queue's settings, from the row the key's query joined (the defaults when it has none)."""
    try:
        return deployment.endpoint_queue
    except EndpointQueue.DoesNotExist:
        return EndpointQueue(deployment_id=deployment.pk)


def _wait(
    endpoint: Endpoint, request: RequestInfo, why: str, retry: int, *, settings: EndpointQueue | None = None
) -> Outcome:
    """Put the request in (or keep it in) the endpoint's queue: 503 with its place and ticket, or 429 when full."""
    if not queue.available():
        return _error(503, f"{why}; retry later.", counter="unavailable", headers={"Retry-After": str(retry)})
    settings = settings or endpoint_settings(endpoint.deployment)
    now = request.received_at.timestamp()
    priority = request.priority if settings.priority_by == EndpointQueue.PriorityBy.KEY else DEFAULT_PRIORITY
    deployment_id = endpoint.deployment.pk
    if request.ticket:
        state = queue.position(
            deployment_id=deployment_id, ticket=request.ticket, now=now, timeout_s=settings.timeout_s
        )
        if not state.position:
            return _expired(settings, state)
        ticket, counter = request.ticket, ""  # counted when it joined
    else:
        ticket, counter = uuid.uuid4().hex, "queued"
        state = queue.join(
            deployment_id=deployment_id,
            ticket=ticket,
            priority=priority,
            now=now,
            max_length=settings.max_length,
            timeout_s=settings.timeout_s,
        )
    extra = {"queue_timeout": state.dropped, "queue_length_max": state.length}
    if not state.position:
        return Outcome(
            429,
            {"detail": f"{why}, and its queue is full ({settings.max_length} waiting); retry later.", "errors": {}},
            {"Retry-After": str(retry)},
            "queue_full",
            extra,
        )
    body = {
        "detail": f"{why}: queued at position {state.position} of {state.length}; retry with the X-Queue-Ticket "
        f"header within {settings.timeout_s} s to keep the place.",
        "errors": {},
        "queue": {
            "ticket": ticket,
            "position": state.position,
            "length": state.length,
            "timeout_s": settings.timeout_s,
        },
    }
    headers = {"Retry-After": str(retry), "X-Queue-Ticket": ticket, "X-Queue-Position": str(state.position)}
    return Outcome(503, body, headers, counter, extra)


def _expired(settings: EndpointQueue, state: queue.QueueState) -> Outcome:
    """A ticket no longer in the line: it waited past the timeout (counted as queue_timeout when it was dropped)."""
    return Outcome(
        429,
        {
            "detail": f"The request waited in the queue longer than {settings.timeout_s} s and was dropped.",
            "errors": {},
        },
        {},
        "",
        {"queue_timeout": state.dropped},
    )


def simulated_response(endpoint: Endpoint, request: RequestInfo, row: ComponentDeployment) -> dict:
    """What the simulated component answers: who served the request, at which revision, at which address."""
    upstream = (row.outputs or {}).get("url", "")
    path = "/".join(part for part in (endpoint.path_prefix.strip("/"), request.path.strip("/")) if part)
    return {
        "endpoint": endpoint.slug,
        "deployment_id": str(endpoint.deployment.pk),
        "served_by": {
            "component": row.key,
            "name": row.job.name if row.job_id else "",
            "revision": row.revision,
            "generation": row.generation,
            "component_version": row.component_version,
            "upstream": f"{upstream}/{path}" if upstream else "",
        },
        "request": {"method": request.method, "path": f"/{request.path}", "body_bytes": request.body_bytes},
        "simulated": True,
        "latency": sized_latency(endpoint.deployment.plan),
    }


def sized_latency(plan: dict) -> dict | None:
    """The latency the performance model predicted for the deployment's sized LLM at the load it was sized for
    (plan["sizing"], written at deploy time), or None when no LLM was sized: what the simulated request "took"."""
    for key, entry in sorted(((plan.get("sizing") or {}).get("components") or {}).items()):
        chosen = entry.get("chosen") or {}
        if entry.get("kind") == "sized" and chosen.get("e2e_s") is not None:
            figures = {name: chosen.get(name) for name in ("ttft_s", "itl_s", "e2e_s")}
            return {"component": key, **figures, "source": "performance model, at the sized load"}
    return None
