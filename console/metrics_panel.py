"""What the deployment page's metrics section shows: the charts over 1 h / 24 h / 7 d and the SLO summary, read
through the observability app's range query and SLO selector."""

from __future__ import annotations

from datetime import datetime, timedelta

from autoscaling.models import ScalingDecision
from console.metrics_chart import TimeChart, time_chart
from deployments.models import UseCaseDeployment
from observability.alerts import WATCHED
from observability.collect import floor_minute
from observability.query import range_query
from observability.selectors import deployment_slo

RANGES = {"1h": (timedelta(hours=1), 60), "24h": (timedelta(hours=24), 600), "7d": (timedelta(days=7), 3600)}
DEFAULT_RANGE = "1h"
QUANTILES = (0.5, 0.95, 0.99)
LATENCIES = (
    ("ttft", "vllm:time_to_first_token_seconds", "Time to first token"),
    ("itl", "vllm:time_per_output_token_seconds", "Inter-token latency"),
    ("e2e", "vllm:e2e_request_latency_seconds", "End-to-end latency"),
)
# Read over the LLM components (the latencies above too): a request passes through every component of the stack, and
# the LLM's count is the use case's. Replicas and cost are over every component.
LLM_OTHERS = ("ucf:requests_total", "vllm:generation_tokens_total", "DCGM_FI_DEV_GPU_UTIL")
REPLICAS = "ucf:replicas"
# The charts that also draw the LLM's replica count (right axis): the ones a scale-up changes.
WITH_REPLICAS = {"ttft", "itl", "e2e", "requests"}
OTHERS = {  # name: (key, title, unit, label, scale)
    "ucf:requests_total": ("requests", "Throughput", "req/s", "requests/s served by the LLM", 1.0),
    "vllm:generation_tokens_total": ("tokens", "Output tokens", "tokens/s", "tokens/s", 1.0),
    "DCGM_FI_DEV_GPU_UTIL": ("gpu", "GPU utilisation", "%", "mean of the LLM GPUs", 1.0),
    "ucf:replicas": ("replicas", "Replicas", "replicas", "replicas, all components", 1.0),
    "ucf:cost_dollars": ("cost", "Cost", "$/h", "dollars per hour", None),  # None: per step, scaled to an hour
}
DECISIONS_SHOWN = 200
REFRESH = "60s"  # rollups are per minute: polling faster would show nothing new


def _decisions(deployment: UseCaseDeployment, *, start: datetime, end: datetime) -> list[tuple[float, int, str]]:
    """The autoscaler's decisions in the range (the newest DECISIONS_SHOWN), as marks for the replica line."""
    rows = ScalingDecision.objects.filter(deployment=deployment, created_at__gte=start, created_at__lt=end).order_by(
        "-id"
    )[:DECISIONS_SHOWN]
    return [
        (row.created_at.timestamp(), row.to_replicas, f"{row.created_at:%H:%M} {row.component_key}: {row.reason}")
        for row in rows
    ]


def range_name(raw: str | None) -> str:
    return raw if raw in RANGES else DEFAULT_RANGE


def metrics_panel(*, deployment: UseCaseDeployment, range_name: str, now: datetime) -> dict:
    """Charts of the last `range_name` (step 1 min / 10 min / 1 h) and the SLO attainment, for the template."""
    span, step = RANGES[range_name]
    end = floor_minute(now)
    start = end - span
    window = {"deployment_id": deployment.pk, "start": start, "end": end, "step": step}
    llm = [name for _, name, _ in LATENCIES] + list(LLM_OTHERS)
    matrix = range_query(names=[*llm, REPLICAS], quantiles=QUANTILES, llm_only=True, **window)["data"]["result"]
    llm_replicas = [(t, float(v)) for s in matrix if s["metric"]["__name__"] == REPLICAS for t, v in s["values"]]
    matrix = [s for s in matrix if s["metric"]["__name__"] != REPLICAS]
    matrix += range_query(names=[n for n in OTHERS if n not in LLM_OTHERS], **window)["data"]["result"]
    decisions = _decisions(deployment, start=start, end=end)
    slo = deployment_slo(deployment=deployment, now=now)
    targets = {o["target"]: o["threshold_s"] for o in slo["objectives"]}
    by_name: dict[str, list] = {}
    for series in matrix:
        by_name.setdefault(series["metric"]["__name__"], []).append(series)
    charts: list[TimeChart] = []
    bounds = {"start": start.timestamp(), "end": end.timestamp(), "step": step}
    for key, name, title in LATENCIES:
        lines = [
            (f"p{round(float(s['metric']['quantile']) * 100)}", [(t, float(v)) for t, v in s["values"]])
            for s in by_name.get(name, [])
        ]
        charts.append(
            time_chart(
                key=key,
                title=title,
                unit="s",
                series=lines,
                slo=targets.get(key),
                replicas=llm_replicas,
                decisions=decisions,
                **bounds,
            )
        )
    for name, (key, title, unit, label, scale) in OTHERS.items():
        factor = scale if scale is not None else 3600 / step
        points = [(t, float(v) * factor) for s in by_name.get(name, []) for t, v in s["values"]]
        y_max = 100.0 if unit == "%" else None
        overlay = llm_replicas if key in WITH_REPLICAS else None
        charts.append(
            time_chart(
                key=key,
                title=title,
                unit=unit,
                series=[(label, points)],
                y_max=y_max,
                replicas=overlay,
                decisions=decisions if overlay is not None else None,
                **bounds,
            )
        )
    return {
        "charts": charts,
        "slo": slo,
        "range": range_name,
        "ranges": list(RANGES),
        "step": step,
        "refresh": REFRESH if deployment.status in WATCHED else None,
        "has_data": any(not c.empty for c in charts),
    }
