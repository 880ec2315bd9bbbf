"""A resolved plan made to fit a cluster: GPU types placed, LLMs sized for a use case's SLOs and a load.

Called by the deployment services (preview, create, change) between the resolver (template + parameters -> plan) and
the capacity check. For each GPU component, in order:

- an `optimize_with_budsim` component, when a use case is given, is sized: the cluster's GPU types x counts x the
  precisions its server can be told to use, ranked by the search; the chosen candidate sets its GPU type, count,
  replicas, tensor-parallel degree and quantization. What the user pinned through parameters stays (explicit
  resources win over sizing);
- any other GPU component is placed: its GPU type is a preference the cluster may lack (see `sizing.placement`).

The report says, per component, what was decided and why: the chosen candidate, the runners-up and the SLO check, or
the placement note.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from core.exceptions import ValidationError
from jobs.models import Cluster
from sizing import selectors
from sizing.placement import DEFAULT_CONTEXT_TOKENS, cluster_gpus, place
from sizing.reference import catalog
from sizing.search import SLO_NAMES, Candidate, Load, SizingResult
from templates_app.plans import Plan, PlannedComponent
from templates_app.resolver import component_with_resources, plan_with_components
from usecases.models import UseCase

RESOURCE_FIELDS = ("gpu_type", "gpu_count", "replicas")
RUNNERS_UP = 3
# Server config keys the sizing may set: the tensor-parallel degree, and the precision the server quantizes to.
TP_KEY, QUANTIZATION_KEY, KV_CACHE_KEY = "tensor_parallel_size", "quantization", "kv_cache_dtype"
# What a server can quantize a 16-bit checkpoint to by itself (vLLM's --quantization fp8); int8/int4 need
# checkpoints quantized beforehand, which a model id alone does not give.
ONLINE_PRECISIONS = ("bf16", "fp8")


@dataclasses.dataclass
class PlacedPlan:
    plan: Plan
    report: dict  # {"usecase_id", "load", "components": {key: {...}}}
    slo_errors: dict  # {"slo.<name>": [message]} for sized components no candidate could serve

    def stored_report(self) -> dict:
        """The report without every candidate of each search (a preview shows them; a deployment keeps the choice,
        the runners-up and the SLO check)."""
        components = {
            key: {name: value for name, value in entry.items() if name != "candidates"}
            for key, entry in self.report["components"].items()
        }
        return {**self.report, "components": components}


def pinned_fields(raw_component: Mapping, given: Mapping) -> set[str]:
    """The resource fields of a template component whose value comes from a parameter the user gave."""
    names = {re.escape(str(name)) for name in given}
    if not names:
        return set()
    pattern = re.compile(r"parameters\.(?:" + "|".join(names) + r")\b")
    raw_resources = raw_component.get("resources") or {}
    pinned = set()
    for name in RESOURCE_FIELDS:
        value = raw_component.get(name, raw_resources.get(name))
        if isinstance(value, str) and pattern.search(value):
            pinned.add(name)
    return pinned


def plan_for_cluster(
    *,
    template,
    plan: Plan,
    given: Mapping,
    cluster: Cluster,
    usecase: UseCase | None = None,
    load: Load | None = None,
) -> PlacedPlan:
    """Place every GPU component on the cluster's GPU types and size the marked LLMs for the use case (see above).

    Raises ValidationError naming `components.<i>.resources.gpu_type` when a required type is missing or nothing
    fits; SLOs no candidate meets are returned in `slo_errors` (a preview shows them, a deploy refuses)."""
    content = template if isinstance(template, dict) else template.as_content()
    raw = {c.get("id"): c for c in content.get("components") or []}
    gpus = cluster_gpus(cluster.inventory, cluster.prices)
    workload = None
    if usecase is not None:
        workload = selectors.workload_resolve(
            usecase_id=usecase.unique_id, input_tokens=None, output_tokens=None, slo=None
        )
    report: dict = {"usecase_id": usecase.unique_id if usecase else None, "load": _load_dict(load), "components": {}}
    errors: dict[str, list[str]] = {}
    slo_errors: dict[str, list[str]] = {}
    components = []
    for index, component in enumerate(plan.components):
        resources = component.resources
        if not resources.get("gpu_count"):
            components.append(component)
            continue
        raw_component = raw.get(component.key, {})
        pinned = pinned_fields(raw_component, given)
        required = bool(raw_component.get("gpu_type_required")) or "gpu_type" in pinned
        if component.optimize_with_budsim and workload is not None and catalog().model(component.model_id):
            updated, entry = _sized(component, workload, load or Load(), cluster, pinned, required)
            if entry["chosen"] is None:
                slo_errors.update(_slo_errors(component.key, entry))
                # the preview still shows a plan: the component placed as if it were not sized
                updated, placed = _placed(component, gpus, required, index, errors)
                entry.update(gpu_type=placed["gpu_type"], placement=placed["placement"])
        else:
            updated, entry = _placed(component, gpus, required, index, errors)
        components.append(updated)
        report["components"][component.key] = entry
    if errors:
        raise ValidationError(errors)
    return PlacedPlan(plan=plan_with_components(plan, components), report=report, slo_errors=slo_errors)


def _load_dict(load: Load | None) -> dict:
    return {k: v for k, v in dataclasses.asdict(load).items() if v} if load else {}


def _placed(component: PlannedComponent, gpus, required: bool, index: int, errors: dict):
    resources = component.resources
    config = component.config or {}
    model_name = component.model_id or config.get("model_id")
    model = catalog().model(model_name) if model_name else None
    precision = config.get(QUANTIZATION_KEY) or "bf16"
    context = int(
        config.get("max_model_len")
        or (model.context_length if model and model.kind != "llm" else 0)
        or DEFAULT_CONTEXT_TOKENS
    )
    placement = place(
        preferred=resources.get("gpu_type"),
        required=required,
        gpu_count=int(resources["gpu_count"]),
        gpus=gpus,
        model=model,
        precision=precision,
        context_tokens=context,
    )
    entry = {
        "kind": "placed",
        "model_id": model_name,
        "preferred": resources.get("gpu_type"),
        "required": required,
        "gpu_type": placement.gpu_type,
        "placement": placement.note,
        "fitting": list(placement.fitting),
    }
    if placement.error:
        errors[f"components.{index}.resources.gpu_type"] = [f"{component.key}: {placement.error}"]
        return component, {**entry, "error": placement.error}
    if placement.gpu_type == resources.get("gpu_type"):
        return component, entry
    return component_with_resources(component, {**resources, "gpu_type": placement.gpu_type}, config), entry


def _sized(component: PlannedComponent, workload, load: Load, cluster: Cluster, pinned: set, required: bool):
    resources = dict(component.resources)
    config = dict(component.config or {})
    precisions = ONLINE_PRECISIONS if QUANTIZATION_KEY in config else ("bf16",)
    result: SizingResult = selectors.sizing_run(
        model=catalog().model(component.model_id),
        workload=workload,
        load=load,
        cluster=cluster,
        gpu_types=[resources["gpu_type"]] if required else None,
        gpu_counts=[int(resources["gpu_count"])] if "gpu_count" in pinned else None,
        precisions=precisions,
    )
    chosen = result.chosen
    entry = {
        "kind": "sized",
        "model_id": component.model_id,
        "pinned": sorted(pinned),
        "chosen": chosen.as_dict() if chosen else None,
        "runners_up": [c.as_dict() for c in _runners_up(result, chosen)],
        "candidates": [c.as_dict() for c in result.candidates if c.fits],
        "slo": workload.as_dict()["slo"],
        "slo_check": _slo_check(workload, chosen or _closest(result)),
        "reasons": result.reasons,
    }
    if chosen is None:
        return component, entry
    resources.update(gpu_type=chosen.cluster_gpu_type or chosen.gpu_type, gpu_count=chosen.gpu_count)
    if "replicas" not in pinned:
        resources["replicas"] = chosen.replicas
    if TP_KEY in config:
        config[TP_KEY] = chosen.gpu_count
    if QUANTIZATION_KEY in config:
        config[QUANTIZATION_KEY] = None if chosen.precision == "bf16" else chosen.precision
    if KV_CACHE_KEY in config:  # the performance model keeps an fp8 KV cache with fp8 weights (sizing.perf)
        config[KV_CACHE_KEY] = "fp8" if chosen.precision == "fp8" else None
    return component_with_resources(component, resources, config), entry


def _runners_up(result: SizingResult, chosen: Candidate | None) -> list[Candidate]:
    others = [c for c in result.candidates if c is not chosen and c.fits]
    return others[:RUNNERS_UP]


def _closest(result: SizingResult) -> Candidate | None:
    return next((c for c in result.candidates if c.fits), None)


def _slo_check(workload, candidate: Candidate | None) -> list[dict]:
    """One row per SLO with a target: the estimate, whether it is met."""
    rows = []
    for key, target in workload.slo.items():
        value = getattr(candidate, key) if candidate else None
        rows.append(
            {
                "slo": key,
                "name": SLO_NAMES[key],
                "target_s": target,
                "estimate_s": round(value, 4) if value is not None else None,
                "met": value is not None and value <= target,
            }
        )
    return rows


def _slo_errors(key: str, entry: dict) -> dict[str, list[str]]:
    missed = [row for row in entry["slo_check"] if not row["met"]] or entry["slo_check"]
    reason = entry["reasons"][-1] if entry["reasons"] else "no candidate"
    if not missed:
        return {"usecase_id": [f"{key}: {reason}"]}
    return {
        f"slo.{row['slo']}": [
            f"{key}: no configuration on this cluster meets {row['name']} <= {row['target_s']} s. {reason}"
        ]
        for row in missed
    }
