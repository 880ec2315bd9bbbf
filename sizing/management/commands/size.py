"""python manage.py size --usecase ID --model M [--load 50 | --load 5rps] [...]: the sizing table."""

from __future__ import annotations

import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ValidationError
from jobs.models import Cluster
from sizing import selectors
from sizing.search import Load, SizingResult

SLO_COLUMNS = (("ttft_s", "TTFT"), ("itl_s", "ITL"), ("e2e_s", "E2E"))


def parse_load(text: str | None) -> Load:
    """`50` (or `50users`) is concurrency; `5rps`, `5/s` or `5 req/s` is requests per second."""
    if not text:
        return Load()
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(users?|rps|/s|req/s)?\s*", text.lower())
    if not match:
        raise CommandError(f"--load: {text!r} is neither a number of users (50) nor a rate (5rps).")
    number, unit = float(match.group(1)), match.group(2) or "users"
    if unit in ("rps", "/s", "req/s"):
        return Load(requests_per_second=number)
    return Load(concurrency=max(1, int(number)))


class Command(BaseCommand):
    help = "Size a model for a use case's SLOs: every GPU type x count x precision, the cheapest meeting them first."

    def add_arguments(self, parser):
        parser.add_argument("--usecase", help="unique_id in the SLO catalog (its upper token bounds and SLOs)")
        parser.add_argument("--model", required=True, help="model id or alias (GET /api/v1/models)")
        parser.add_argument("--load", help="50 (concurrent users) or 5rps (requests per second); default 1 user")
        parser.add_argument("--input-tokens", type=int)
        parser.add_argument("--output-tokens", type=int)
        parser.add_argument("--ttft", type=float, help="TTFT target in seconds (overrides the use case's)")
        parser.add_argument("--itl", type=float, help="inter-token latency target in seconds")
        parser.add_argument("--e2e", type=float, help="end-to-end latency target in seconds")
        parser.add_argument("--cluster", help="a cluster's name or id: its GPU types, prices and free capacity")
        parser.add_argument("--gpu-types", help="comma-separated GPU types to consider")
        parser.add_argument("--precisions", help="comma-separated: bf16,fp8,int8,int4")
        parser.add_argument("--top", type=int, default=15, help="rows to print (default 15)")
        parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    def handle(self, *args, **opts):
        try:
            result, workload, model = self._size(opts)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
            return
        slo = workload.slo
        targets = ", ".join(f"{label} <= {getattr(slo, key)} s" for key, label in SLO_COLUMNS if getattr(slo, key))
        self.stdout.write(
            f"{model.id}: {workload.input_tokens} tokens in, {workload.output_tokens} out; SLOs: {targets or 'none'}"
        )
        self.stdout.write(render_table(result, top=opts["top"]))
        for reason in result.reasons:
            self.stdout.write(reason)

    def _size(self, opts):
        model = selectors.model_resolve(model_id=opts["model"], field="--model")
        slo = {"ttft_s": opts["ttft"], "itl_s": opts["itl"], "e2e_s": opts["e2e"]}
        workload = selectors.workload_resolve(
            usecase_id=opts["usecase"],
            input_tokens=opts["input_tokens"],
            output_tokens=opts["output_tokens"],
            slo={k: v for k, v in slo.items() if v is not None},
        )
        cluster = None
        if opts["cluster"]:
            cluster = Cluster.objects.filter(name=opts["cluster"]).first() or _by_id(opts["cluster"])
        result = selectors.sizing_run(
            model=model,
            workload=workload,
            load=parse_load(opts["load"]),
            cluster=cluster,
            gpu_types=_split(opts["gpu_types"]),
            precisions=_split(opts["precisions"]),
        )
        return result, workload, model


def _by_id(value: str) -> Cluster:
    try:
        return Cluster.objects.get(pk=value)
    except (Cluster.DoesNotExist, DjangoValidationError, ValueError) as exc:
        raise CommandError(f"--cluster: no cluster named or with id {value!r}.") from exc


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def render_table(result: SizingResult, *, top: int) -> str:
    header = ["#", "GPUs", "precision", "replicas", "TTFT", "ITL", "E2E", "SLO", "$/hour", "$/M tok"]
    rows = [header]
    for index, c in enumerate(result.candidates[:top], start=1):
        rows.append(
            [
                str(index),
                f"{c.gpu_count} x {c.gpu_type}",
                c.precision,
                str(c.replicas) if c.fits else "-",
                _ms(c.ttft_s) + _mark(c, "ttft_s"),
                _ms(c.itl_s) + _mark(c, "itl_s"),
                _ms(c.e2e_s) + _mark(c, "e2e_s"),
                "meets" if c.meets_slo else ("misses" if c.fits else "no fit"),
                str(c.hourly_cost) if c.hourly_cost is not None else "-",
                str(c.cost_per_million_tokens) if c.cost_per_million_tokens is not None else "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def _ms(seconds: float | None) -> str:
    if seconds is None or seconds == float("inf"):
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _mark(candidate, key: str) -> str:
    return " !" if any(v["slo"] == key for v in candidate.violations) else ""
