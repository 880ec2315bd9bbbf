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

from autoscaling.services import deployment_wake_up
from deployments.models import ComponentDeployment, UseCaseDeployment
from deployments.state import DeploymentStatus
from serving import selectors, services
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


@dataclass(frozen=True)
class Outcome:
    """The gateway's answer: HTTP status, JSON body, headers, and which per-minute counter it adds to."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict)
    counter: str = ""  # a serving.models.EndpointTraffic column, or "" (not counted: no endpoint to count it on)


def _error(status: int, detail: str, *, counter: str = "", headers: dict | None = None) -> Outcome:
    return Outcome(status, {"detail": detail, "errors": {}}, headers or {}, counter)


def bearer_secret(authorization: str) -> str:
    scheme, _, secret = (authorization or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def handle(*, slug: str, path: str, method: str, authorization: str, body_bytes: int, now: datetime) -> Outcome:
    """Everything the gateway does with one request, counted on the endpoint's per-minute traffic row."""
    deployment_id, outcome = _admit(
        slug=slug, path=path, method=method, authorization=authorization, body_bytes=body_bytes, now=now
    )
    if outcome.counter and deployment_id is not None:
        services.traffic_count(deployment_id=deployment_id, at=now, column=outcome.counter)
    return outcome


def _admit(*, slug, path, method, authorization, body_bytes, now) -> tuple[uuid.UUID | None, Outcome]:
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
    info = RequestInfo(method=method, path=path, body_bytes=body_bytes, key_id=key.pk, received_at=now)
    return deployment.pk, dispatch(Endpoint.of(deployment), info)


def dispatch(endpoint: Endpoint, request: RequestInfo) -> Outcome:
    """Decide what to do with an admitted request: the hand-off point of the request queue and cold starts.

    Today: the row serving the endpoint's component answers if it runs (a simulated response naming it), else
    503. Whatever a caller sees of routing comes from here, so a queue goes in place of the 503 branch."""
    deployment = endpoint.deployment
    if deployment.status == DeploymentStatus.SCALED_TO_ZERO:
        # The first request at zero wakes the deployment; it is told to come back once the cold start is over.
        starts = deployment_wake_up(
            user=None, deployment=deployment, now=request.received_at, reason="a request arrived at zero"
        )
        seconds = math.ceil(max((start.total_s for start in starts.values()), default=5.0))
        return _error(
            503,
            f"The deployment was scaled to zero and is starting: ready in about {seconds} s (cold start); retry then.",
            counter="unavailable",
            headers={"Retry-After": str(seconds)},
        )
    row = selectors.serving_component(deployment_id=deployment.pk, key=endpoint.component_key)
    if row is None or row.status != ComponentDeployment.Status.RUNNING:
        state = row.status if row is not None else "absent"
        return _error(
            503,
            f"No running {endpoint.component_key!r} serves this endpoint now ({state}); retry later.",
            counter="unavailable",
            headers={"Retry-After": "5"},
        )
    return Outcome(200, simulated_response(endpoint, request, row), {}, "served")


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
