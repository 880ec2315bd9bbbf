"""Analytic performance model of LLM serving on one GPU type (no Django), in the family of GenZ and LLM-Viewer.

Prefill is bound by compute (linear layers plus causal attention), decode by memory bandwidth (every step reads the
weights and the KV cache of every running sequence); a step is never faster than either bound. Tensor parallelism
splits weights, KV heads and FLOPs over the GPUs of a replica and pays two all-reduces per layer. Concurrency is a
closed loop, as vendor benchmarks measure it: `c` users, each sending the next request when the last one ends;
prefills of arriving requests share the GPU with the decode steps of the running ones (continuous batching) and
queue behind each other (an M/D/1 wait), which is what makes TTFT and ITL grow with concurrency.

Every efficiency below is a named constant: where it comes from is written beside it, and BENCHMARKS.md says which
published measurements calibrated it and which only validate it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .reference import PRECISION_BYTES, GpuType, ModelSpec

GB = 1e9
TERA = 1e12

# Achievable fraction of HBM bandwidth for decode's weight + KV reads. Calibrated on NIM's single-user ITL
# (BENCHMARKS.md); STREAM-like copies reach 0.8-0.9 of the datasheet on H100/A100.
HBM_EFFICIENCY = 0.80
# Achievable fraction of dense tensor peak (model FLOPs utilisation) in prefill, by the precision of the multiplies:
# 8-bit kernels reach a smaller share of their doubled peak. Calibrated on NIM's TTFT at one user (BENCHMARKS.md).
PREFILL_MFU = {"bf16": 0.65, "fp8": 0.50, "int8": 0.50, "int4": 0.65}
# Fraction of tensor peak for decode's small-batch matrix multiplies (only binds at batches in the hundreds).
# Assumed, not calibrated: skinny GEMMs rarely pass half of peak.
DECODE_MFU = 0.40
# Fraction of the link's one-way bandwidth an NCCL ring all-reduce achieves (nccl-tests "busbw" on NVLink/PCIe).
# Assumed, not calibrated.
INTERCONNECT_EFFICIENCY = 0.70
# Fixed cost of one all-reduce (launch + synchronisation), by link kind. Assumed from NCCL small-message latencies.
ALLREDUCE_LATENCY_S = {"nvlink": 8e-6, "infinity": 10e-6, "pcie": 25e-6}
# Per decode step: scheduler, sampling, detokenisation and kernel launches not hidden by CUDA graphs. Calibrated.
STEP_OVERHEAD_S = 0.003
# Per request before its prefill starts: HTTP, tokenisation, admission. Calibrated on NIM's short-prompt TTFT.
REQUEST_OVERHEAD_S = 0.010
# Share of a prefill's compute hidden inside memory-bound decode steps by chunked prefill (so it does not slow the
# running sequences' ITL). Calibrated on NIM's ITL at 5-50 users.
PREFILL_DECODE_OVERLAP = 0.20
# The fraction of GPU memory the engine may use (vLLM's default --gpu-memory-utilization).
GPU_MEMORY_UTILIZATION = 0.90
# KV cache element size: 16 bit, except that fp8 serving keeps an fp8 KV cache too (TensorRT-LLM's FP8 recipes,
# vLLM's --kv-cache-dtype fp8); int8/int4 weight quantisation leaves the cache in 16 bit.
KV_CACHE_BYTES = {"bf16": 2, "fp8": 1, "int8": 2, "int4": 2}
# Tokens in the engine's profiling batch (the activation peak it reserves): vLLM's max_num_batched_tokens for chunked
# prefill in the OpenAI server.
PROFILE_BATCH_TOKENS = 8192
# CUDA graphs, NCCL buffers and allocator slack per GPU, inside the engine's share.
RUNTIME_RESERVED_GB = 1.0
# Weight bytes on top of the nominal ones: quantisation scales (group-wise int4 keeps one 16-bit scale and zero per
# 128 weights) and the 16-bit embeddings/LM head that quantisers leave alone.
QUANT_OVERHEAD = {"bf16": 0.0, "fp8": 0.02, "int8": 0.02, "int4": 0.06}

_FIXED_POINT_ROUNDS = 6
# Share of time in prefill past which the queueing formula stops meaning much: the replica is prefill-bound.
SATURATION = 0.95


@dataclass(frozen=True)
class Estimate:
    """What one replica (one configuration at one concurrency) does."""

    fits: bool
    memory_needed_gb: float  # per GPU, at this concurrency
    memory_available_gb: float  # per GPU, the engine's share
    max_concurrency: int  # the most sequences of this length whose KV cache fits
    ttft_s: float
    itl_s: float
    e2e_s: float
    tokens_per_s: float  # output tokens per second of the replica
    requests_per_s: float
    saturated: bool  # the replica spends nearly all its time prefilling: latency is dominated by queueing
    reason: str = ""


class Setup:
    """A model on `tp` GPUs of one type at one precision; holds the invariants, so many concurrencies are cheap."""

    def __init__(
        self, *, model: ModelSpec, gpu: GpuType, tp: int, precision: str, input_tokens: int, output_tokens: int
    ) -> None:
        self.model, self.gpu, self.tp, self.precision = model, gpu, tp, precision
        self.n_in, self.n_out = max(1, int(input_tokens)), max(1, int(output_tokens))
        self.problem = _problem(model, gpu, tp, precision, self.n_in + self.n_out)
        wbytes = PRECISION_BYTES[precision] * (1 + QUANT_OVERHEAD[precision])
        self.weights_gb = model.params_b * wbytes / tp  # per GPU
        self.active_weights_gb = model.compute_params_b * wbytes / tp
        kv_heads_per_gpu = max(1.0, model.kv_heads / tp)  # fewer KV heads than GPUs: each GPU keeps a copy
        self.kv_per_token_gb = 2 * model.layers * kv_heads_per_gpu * model.head_dim * KV_CACHE_BYTES[precision] / GB
        self.available_gb = gpu.memory_gb * GPU_MEMORY_UTILIZATION
        activation_gb = (
            PROFILE_BATCH_TOKENS * (4 * model.hidden_size + 2 * model.intermediate_size / tp) * 2
            + PROFILE_BATCH_TOKENS * model.vocab_size / tp * 4 / 16  # logits of the sampled rows, fp32
        ) / GB
        self.fixed_gb = self.weights_gb + activation_gb + RUNTIME_RESERVED_GB
        seq_gb = self.kv_per_token_gb * (self.n_in + self.n_out)
        fitting = int((self.available_gb - self.fixed_gb) // seq_gb) if seq_gb else 0
        self.max_concurrency = 0 if self.problem else max(0, fitting)
        if not self.problem and self.max_concurrency < 1:
            need = self.fixed_gb + seq_gb
            self.problem = (
                f"needs {need:.1f} GB per GPU for weights, activations and one {self.n_in + self.n_out}-token "
                f"sequence; {gpu.id} gives {self.available_gb:.1f} GB"
            )
        bw = gpu.hbm_bandwidth_gbps * GB
        self._bw_eff = bw * HBM_EFFICIENCY
        peak = gpu.compute_tflops(precision) * TERA
        self._prefill_flops_rate = tp * peak * PREFILL_MFU[precision]
        self._decode_flops_rate = tp * peak * DECODE_MFU
        link = _link_kind(gpu)
        self._ar_latency = ALLREDUCE_LATENCY_S[link] if tp > 1 else 0.0
        one_way = gpu.interconnect_gbps * GB / 2 * INTERCONNECT_EFFICIENCY
        # Ring all-reduce moves 2 (tp - 1) / tp of the message over each link.
        self._ar_bytes_rate = one_way / (2 * (tp - 1) / tp) if tp > 1 else math.inf
        self._allreduces = 2 * model.layers
        self._latencies: dict[int, tuple[float, float, float, float]] = {}
        context = self.n_in + self.n_out / 2  # tokens in a running sequence's KV cache, on average
        self._kv_step_gb = context * self.kv_per_token_gb
        self._decode_flops_per_seq = (
            2 * model.compute_params_b * 1e9 + 4 * model.layers * context * model.attention_heads * model.head_dim
        )
        self.prefill_s = math.inf if self.problem else self._prefill_seconds()

    # -- the two phases -------------------------------------------------------------------------------------------
    def _comm_seconds(self, tokens: int) -> float:
        if self.tp == 1:
            return 0.0
        message = tokens * self.model.hidden_size * 2
        return self._allreduces * (self._ar_latency + message / self._ar_bytes_rate)

    def _prefill_seconds(self) -> float:
        m, n = self.model, self.n_in
        flops = 2 * m.compute_params_b * 1e9 * n + 2 * m.layers * n * n * m.attention_heads * m.head_dim
        compute = flops / self._prefill_flops_rate
        memory = self.active_weights_gb * GB / self._bw_eff  # the weights are read at least once
        return max(compute, memory) + self._comm_seconds(n)

    def step_seconds(self, batch: int) -> float:
        """One decode step for `batch` running sequences, each with half its output generated on average."""
        weights_read = self.active_weights_gb * batch  # a mixture of experts touches more experts per token ...
        if weights_read > self.weights_gb:  # ... up to all of them
            weights_read = self.weights_gb
        memory = (weights_read + batch * self._kv_step_gb) * GB / self._bw_eff
        compute = batch * self._decode_flops_per_seq / self._decode_flops_rate
        return (memory if memory > compute else compute) + self._comm_seconds(batch) + STEP_OVERHEAD_S

    # -- steady state at a concurrency ----------------------------------------------------------------------------
    def at(self, concurrency: int) -> Estimate:
        """The replica with `concurrency` users in a closed loop (the next request when the last one ends)."""
        c = max(1, int(concurrency))
        memory_needed = self.fixed_gb + c * self.kv_per_token_gb * (self.n_in + self.n_out)
        if self.problem or c > self.max_concurrency:
            reason = self.problem or (
                f"{c} concurrent sequences of {self.n_in + self.n_out} tokens need {memory_needed:.1f} GB per GPU; "
                f"{self.gpu.id} gives {self.available_gb:.1f} GB (at most {self.max_concurrency})"
            )
            return self._unfit(memory_needed, reason)
        ttft, itl, e2e, busy = self.latencies(c)
        saturated = busy >= SATURATION
        rps = c / e2e
        return Estimate(
            fits=True,
            memory_needed_gb=round(memory_needed, 2),
            memory_available_gb=round(self.available_gb, 2),
            max_concurrency=self.max_concurrency,
            ttft_s=ttft,
            itl_s=itl,
            e2e_s=e2e,
            tokens_per_s=rps * self.n_out,
            requests_per_s=rps,
            saturated=saturated,
            reason="prefill-bound: the replica spends almost all its time prefilling" if saturated else "",
        )

    def latencies(self, c: int) -> tuple[float, float, float, float]:
        """(TTFT, ITL, end-to-end, share of time prefilling) at `c` users that fit; cached, the search's hot path."""
        known = self._latencies.get(c)
        if known is not None:
            return known
        step, prefill = self.step_seconds(c), self.prefill_s
        ttft, itl, busy = REQUEST_OVERHEAD_S + prefill, step, 0.0
        n = self.n_out - 1  # tokens after the first
        others = (c - 1) * prefill  # prefill seconds of the other users' requests, per request cycle
        stolen = others * (1 - PREFILL_DECODE_OVERLAP)
        for _ in range(_FIXED_POINT_ROUNDS):
            if n:
                # itl = step / (1 - stolen share), with the stolen share = stolen / e2e and e2e = ttft + n * itl:
                # a quadratic in itl with exactly one positive root (the closed loop regulates itself: slower
                # decoding means fewer arrivals).
                b = ttft - stolen - step * n
                itl = (-b + math.sqrt(b * b + 4 * n * step * ttft)) / (2 * n)
            busy = others / (ttft + n * itl)
            if busy > SATURATION:
                busy = SATURATION
            wait = busy / (2 * (1 - busy)) * prefill  # M/D/1 ...
            if wait > others:  # ... but never more than every other user ahead
                wait = others
            ttft = REQUEST_OVERHEAD_S + prefill + wait
        result = self._latencies[c] = (ttft, itl, ttft + n * itl, busy)
        return result

    def _unfit(self, memory_needed: float, reason: str) -> Estimate:
        return Estimate(
            fits=False,
            memory_needed_gb=round(memory_needed, 2),
            memory_available_gb=round(self.available_gb, 2),
            max_concurrency=self.max_concurrency,
            ttft_s=math.inf,
            itl_s=math.inf,
            e2e_s=math.inf,
            tokens_per_s=0.0,
            requests_per_s=0.0,
            saturated=False,
            reason=reason,
        )

    def decode_floor_s(self) -> float:
        """The physical limit: one token cannot come faster than reading the weights it uses once from HBM."""
        return self.active_weights_gb * GB / (self.gpu.hbm_bandwidth_gbps * GB)


def _link_kind(gpu: GpuType) -> str:
    name = gpu.interconnect.lower()
    if "nvlink" in name:
        return "nvlink"
    return "infinity" if "infinity" in name else "pcie"


def _problem(model: ModelSpec, gpu: GpuType, tp: int, precision: str, sequence: int) -> str:
    """Why this configuration cannot run at all, or ''."""
    if precision not in PRECISION_BYTES:
        return f"unknown precision {precision!r}"
    if not gpu.supports(precision):
        return f"{gpu.id} has no {precision} tensor cores"
    if model.attention_heads % tp:
        return f"{model.attention_heads} attention heads do not split over {tp} GPUs"
    if sequence > model.context_length:
        return f"{sequence} tokens exceed the model's context of {model.context_length}"
    return ""


def money(value: float | Decimal) -> Decimal:
    """Cents, rounded half up."""
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def cost_per_million_tokens(hourly: Decimal, tokens_per_s: float) -> Decimal | None:
    """Dollars per million output tokens at this throughput, or None when nothing is produced."""
    if tokens_per_s <= 0 or not math.isfinite(tokens_per_s):
        return None
    return (hourly / Decimal(str(tokens_per_s * 3600)) * Decimal(1_000_000)).quantize(Decimal("0.0001"))
