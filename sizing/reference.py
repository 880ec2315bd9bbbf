"""The shipped reference data (no Django): GPU types and model architectures, versioned, each figure with its source.

`sizing/data/gpus.json` and `sizing/data/models.json` are the data; this module reads them once, resolves the names
clusters and users write (aliases, any case, `_` for `-`) and suggests the known ids near an unknown one.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

# Precisions the performance model knows, with the bytes one weight takes. int4 is weight-only (AWQ/GPTQ style,
# activations in 16 bit); int8 is W8A8 (SmoothQuant style); fp8 is W8A8 on chips with FP8 tensor cores.
PRECISION_BYTES = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
PRECISIONS = tuple(PRECISION_BYTES)


@dataclass(frozen=True)
class GpuType:
    """One catalog GPU: memory, bandwidth, dense tensor throughput per precision, interconnect, default price."""

    id: str
    name: str
    vendor: str
    architecture: str
    memory_gb: float
    hbm_bandwidth_gbps: float
    bf16_tflops: float
    fp8_tflops: float | None
    int8_tops: float
    interconnect: str
    interconnect_gbps: float
    default_hourly_usd: Decimal
    aliases: tuple[str, ...]
    source: str

    def supports(self, precision: str) -> bool:
        """bf16 (fp16 on Turing), int8 and weight-only int4 run everywhere; fp8 needs FP8 tensor cores."""
        return precision in PRECISION_BYTES and (precision != "fp8" or self.fp8_tflops is not None)

    def compute_tflops(self, precision: str) -> float:
        """Dense peak for the matrix multiplies of `precision` (int4 weights are dequantised to 16 bit)."""
        if precision == "fp8":
            return float(self.fp8_tflops or 0.0)
        if precision == "int8":
            return self.int8_tops
        return self.bf16_tflops

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "architecture": self.architecture,
            "memory_gb": self.memory_gb,
            "hbm_bandwidth_gbps": self.hbm_bandwidth_gbps,
            "bf16_tflops": self.bf16_tflops,
            "fp8_tflops": self.fp8_tflops,
            "int8_tops": self.int8_tops,
            "interconnect": self.interconnect,
            "interconnect_gbps": self.interconnect_gbps,
            "precisions": [p for p in PRECISIONS if self.supports(p)],
            "default_hourly_usd": str(self.default_hourly_usd),
            "aliases": list(self.aliases),
            "source": self.source,
        }


@dataclass(frozen=True)
class ModelSpec:
    """A model's architecture figures: what weights, KV cache and FLOPs per token follow from."""

    id: str
    kind: str  # llm | embedding | reranker
    params_b: float
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    context_length: int
    active_params_b: float | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    note: str = ""

    @property
    def compute_params_b(self) -> float:
        """Parameters each token goes through: all of them, or the active ones of a mixture of experts."""
        return self.active_params_b or self.params_b

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "params_b": self.params_b,
            "active_params_b": self.active_params_b,
            "layers": self.layers,
            "hidden_size": self.hidden_size,
            "attention_heads": self.attention_heads,
            "kv_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.intermediate_size,
            "vocab_size": self.vocab_size,
            "context_length": self.context_length,
            "aliases": list(self.aliases),
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class Catalog:
    """Both lists with their versions, and the lookup tables built from ids and aliases."""

    gpu_version: str
    model_version: str
    gpus: tuple[GpuType, ...]
    models: tuple[ModelSpec, ...]
    _gpu_index: dict[str, GpuType] = field(repr=False, compare=False, default_factory=dict)
    _model_index: dict[str, ModelSpec] = field(repr=False, compare=False, default_factory=dict)

    def gpu(self, name: str | None) -> GpuType | None:
        """The catalog GPU a cluster's inventory name means, or None for a type the catalog does not know."""
        return self._gpu_index.get(normalise(name or ""))

    def model(self, name: str | None) -> ModelSpec | None:
        return self._model_index.get(normalise(name or ""))

    def near_gpus(self, name: str) -> list[str]:
        return _near(name, [g.id for g in self.gpus], self._gpu_index)

    def near_models(self, name: str) -> list[str]:
        return _near(name, [m.id for m in self.models], self._model_index)


def normalise(name: str) -> str:
    """One spelling for lookups: lower case, `_`, spaces and `.` around words folded to `-`."""
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def _near(name: str, ids: list[str], index: dict) -> list[str]:
    """Up to five known ids close to `name` (by id or alias), closest first."""
    matches = difflib.get_close_matches(normalise(name), list(index), n=12, cutoff=0.45)
    near: list[str] = []
    for key in matches:
        known = index[key].id
        if known not in near:
            near.append(known)
    needle = normalise(name).split("/")[-1][:6]
    near += [i for i in ids if needle and needle in normalise(i) and i not in near]
    return near[:5]


@cache
def catalog() -> Catalog:
    """The shipped catalog, read once per process."""
    gpu_doc = json.loads((DATA_DIR / "gpus.json").read_text())
    model_doc = json.loads((DATA_DIR / "models.json").read_text())
    gpus = tuple(
        GpuType(
            **{k: v for k, v in g.items() if k not in ("aliases", "default_hourly_usd")},
            aliases=tuple(g["aliases"]),
            default_hourly_usd=Decimal(g["default_hourly_usd"]),
        )
        for g in gpu_doc["gpus"]
    )
    models = tuple(ModelSpec(**{**m, "aliases": tuple(m.get("aliases", ()))}) for m in model_doc["models"])
    cat = Catalog(gpu_version=gpu_doc["version"], model_version=model_doc["version"], gpus=gpus, models=models)
    for gpu in gpus:
        for name in (gpu.id, *gpu.aliases):
            cat._gpu_index[normalise(name)] = gpu
    for model in models:
        for name in (model.id, *model.aliases):
            cat._model_index[normalise(name)] = model
    return cat


def custom_model(*, model_params_b: float, model_id: str = "custom", **figures: int | float) -> ModelSpec:
    """A model the catalog does not know, from explicit figures; missing ones follow a Llama-like shape."""
    params = float(model_params_b)
    # hidden size of a dense decoder grows about as the cube root of its parameter count (8B: 4096, 70B: 8192).
    hidden = int(figures.get("hidden_size") or max(1024, round(4096 * (params / 8.0) ** (1 / 3) / 128) * 128))
    heads = int(figures.get("attention_heads") or max(8, hidden // 128))
    layers = int(figures.get("layers") or max(8, round(params * 1e9 / (12 * hidden * hidden))))
    return ModelSpec(
        id=model_id,
        kind="llm",
        params_b=params,
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=int(figures.get("kv_heads") or max(1, heads // 8)),
        head_dim=int(figures.get("head_dim") or hidden // heads),
        intermediate_size=int(figures.get("intermediate_size") or hidden * 7 // 2),
        vocab_size=int(figures.get("vocab_size") or 128256),
        context_length=int(figures.get("context_length") or 131072),
        active_params_b=float(figures["active_params_b"]) if figures.get("active_params_b") else None,
        source="explicit figures from the request",
    )
