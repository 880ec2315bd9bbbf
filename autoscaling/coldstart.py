"""How long a replica takes to start (no Django): image pull, weights load, engine warm-up, per cluster.

The figures are a cluster's own (`Cluster.inventory["cold_start"]`, any of the keys of `DEFAULTS`), the defaults
being those of a typical GPU cloud node: a ~10 GB vLLM image pulled at ~200 MB/s (50 s) or found in the node's
cache (2 s); weights read from the model store (object storage through a node cache, 1 GB/s); CUDA graphs and the
engine's warm-up (25 s). A pre-warmed pool replica has the image pulled and the engine up with no model: it only
reads the weights from the node's local NVMe cache (5 GB/s) and attaches them (2 s). An image counts as cached
for 6 hours after the component's last job on the cluster stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

DEFAULTS = {
    "image_pull_s": 50.0,  # image not on the node
    "image_cached_s": 2.0,  # image in the node's cache
    "storage_gbps": 1.0,  # GB/s from the model store to GPU memory
    "engine_warmup_s": 25.0,  # engine start, CUDA graphs, first batch
    "pool_storage_gbps": 5.0,  # GB/s from a pool node's local NVMe cache
    "pool_attach_s": 2.0,  # a warm engine takes a model (load, swap in, health check)
    "image_cache_s": 6 * 3600.0,  # a node keeps an image this long after its last job stopped
}


@dataclass(frozen=True)
class StartModel:
    """One cluster's start-up figures (seconds, GB/s)."""

    image_pull_s: float = DEFAULTS["image_pull_s"]
    image_cached_s: float = DEFAULTS["image_cached_s"]
    storage_gbps: float = DEFAULTS["storage_gbps"]
    engine_warmup_s: float = DEFAULTS["engine_warmup_s"]
    pool_storage_gbps: float = DEFAULTS["pool_storage_gbps"]
    pool_attach_s: float = DEFAULTS["pool_attach_s"]
    image_cache_s: float = DEFAULTS["image_cache_s"]

    @classmethod
    def of(cls, figures: dict | None) -> StartModel:
        """A cluster's figures over the defaults; values that are not positive numbers are ignored."""
        names = {f.name for f in fields(cls)}
        given = {
            k: float(v)
            for k, v in (figures or {}).items()
            if k in names and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
        }
        return cls(**given)


@dataclass(frozen=True)
class ColdStart:
    """A start's parts in seconds, and how it started (`pooled`: from a pre-warmed standby)."""

    image_s: float
    weights_s: float
    warmup_s: float
    pooled: bool

    @property
    def total_s(self) -> float:
        return self.image_s + self.weights_s + self.warmup_s

    def to_dict(self) -> dict:
        return {
            "image_s": round(self.image_s, 2),
            "weights_s": round(self.weights_s, 2),
            "warmup_s": round(self.warmup_s, 2),
            "total_s": round(self.total_s, 2),
            "pooled": self.pooled,
        }


def cold_start(model: StartModel, *, model_gb: float, image_cached: bool, pooled: bool) -> ColdStart:
    """The start of one replica holding `model_gb` of weights (all its GPUs together)."""
    if pooled:
        return ColdStart(0.0, model_gb / model.pool_storage_gbps, model.pool_attach_s, True)
    image = model.image_cached_s if image_cached else model.image_pull_s
    return ColdStart(image, model_gb / model.storage_gbps, model.engine_warmup_s, False)
