"""Published serving measurements the performance model is checked against (no Django).

Each point is a row read in a public benchmark table, with the page it is on. `role` says what it is used for:
`calibration` points chose the named constants of `sizing.perf`; `validation` points were never used to choose them.
"""

from __future__ import annotations

from dataclasses import dataclass

NIM_LLM_BENCHMARKS = "https://docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance.md"
NIM_SAFETY_GUARD = "https://docs.nvidia.com/nim/llama-3-1-nemotron-safety-guard-8b/1.10.1/performance.md"


@dataclass(frozen=True)
class PublishedPoint:
    """One row of a published table: configuration and the measured TTFT / ITL in milliseconds (ITL None: not given)."""

    label: str
    model_id: str
    gpu_type: str
    gpu_count: int
    precision: str
    input_tokens: int
    output_tokens: int
    concurrency: int
    ttft_ms: float
    itl_ms: float | None
    role: str
    source: str


def _nim70(inp: int, out: int, c: int, ttft: float, itl: float, role: str) -> PublishedPoint:
    return PublishedPoint(
        label="NIM 1.8.0 Llama-3.3-70B, 2 x H100 80G, fp8 TP2",
        model_id="meta-llama/Llama-3.3-70B-Instruct",
        gpu_type="H100-80GB",
        gpu_count=2,
        precision="fp8",
        input_tokens=inp,
        output_tokens=out,
        concurrency=c,
        ttft_ms=ttft,
        itl_ms=itl,
        role=role,
        source=NIM_LLM_BENCHMARKS,
    )


POINTS: tuple[PublishedPoint, ...] = (
    _nim70(5000, 500, 1, 406.77, 18.58, "calibration"),
    _nim70(5000, 500, 5, 546.7, 21.83, "validation"),
    _nim70(5000, 500, 25, 688.69, 38.75, "calibration"),
    _nim70(5000, 500, 50, 834.51, 59.73, "validation"),
    _nim70(500, 2000, 1, 47.77, 18.91, "validation"),
    PublishedPoint(
        label="NIM 1.10.1 Nemotron Safety Guard 8B (Llama-3.1-8B architecture), A100 80GB SXM, BF16",
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        gpu_type="A100-80GB",
        gpu_count=1,
        precision="bf16",
        input_tokens=500,
        output_tokens=10,
        concurrency=1,
        ttft_ms=48.3,
        itl_ms=None,
        role="calibration",
        source=NIM_SAFETY_GUARD,
    ),
)
