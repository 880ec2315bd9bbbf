"""Benchmark of issue 15: sizing speed over the whole GPU catalog, and the model against published measurements.

    python bench/sizing_bench.py               # 1,000 sizings per case, the comparison table
    python bench/sizing_bench.py --quick       # 100 sizings per case
    python bench/sizing_bench.py --write       # also replace the section in BENCHMARKS.md

Pure Python (no Django, no database): the performance model and the search are `sizing.perf` / `sizing.search`.
Every sizing covers every catalog GPU type x {1, 2, 4, 8} GPUs x {bf16, fp8, int8, int4}: 160 candidates.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sizing.perf import Setup  # noqa: E402
from sizing.published import POINTS  # noqa: E402
from sizing.reference import catalog  # noqa: E402
from sizing.search import Load, SizingRequest, Slo, size  # noqa: E402

HEADING = "## SLO-aware sizing (issue 15)"
CASES = [  # (use case from fixtures/usecases.json, model, load)
    ("ambient_scribe", "meta-llama/Llama-3.1-8B-Instruct", Load(concurrency=50)),
    ("code_completion", "Qwen/Qwen2.5-32B-Instruct", Load(requests_per_second=20)),
    ("clinical_note_summary", "meta-llama/Llama-3.1-70B-Instruct", Load(concurrency=200)),
    ("voice_ivr", "meta-llama/Llama-3.1-405B-Instruct", Load(requests_per_second=5)),
]


NOTES = """How the constants were chosen, and what this comparison does not show:

- Calibration: a grid over `HBM_EFFICIENCY`, `STEP_OVERHEAD_S`, `PREFILL_DECODE_OVERLAP`, `PREFILL_MFU` (bf16 and
  fp8) and `REQUEST_OVERHEAD_S`, minimising the largest error on the three *calibration* rows only (best: 5.8 %).
  `DECODE_MFU`, `INTERCONNECT_EFFICIENCY`, `ALLREDUCE_LATENCY_S`, `GPU_MEMORY_UTILIZATION` and the memory constants
  are assumptions written beside them in `sizing/perf.py`, not fitted.
- Every ITL figure comes from one configuration (2 x H100, fp8, TP2): the split between the per-step overhead and
  the per-all-reduce latency is not identifiable from it, and nothing here checks A100/L40S/L4 decode, int8/int4,
  or tensor parallelism over PCIe. The only bf16 and only A100 point is a classifier's TTFT (10 output tokens).
- Not used: NIM's Llama-3.1-8B and Llama-3.1-70B tables on the same page, because the excerpts we could read did not
  show their GPU, precision and token lengths; a row without its configuration cannot be compared honestly.
  More published points (vLLM's nightly benchmarks, TensorRT-LLM's perf-overview latency tables) are the next step.
- Speed: the search is pure CPU and single-threaded. The CPU p99 (3-7 ms in every run so far) is what it costs and
  is under the 20 ms target. On a quiet machine (load average below 1) the wall-clock p99 is 2.8-6.6 ms, within
  a fraction of a millisecond of the CPU p99; while eight test suites shared the two cores (load average 10-17) the
  wall-clock p99 was 67-89 ms: the CPU time plus the time the scheduler gave to others.
"""


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def usecases() -> dict[str, dict]:
    data = json.loads((ROOT / "fixtures" / "usecases.json").read_text())
    return {u["unique_id"]: u for u in (data["usecases"] if isinstance(data, dict) else data)}


def speed(runs: int) -> list[dict]:
    cat, known = catalog(), usecases()
    rows = []
    for unique_id, model_id, load in CASES:
        u = known[unique_id]
        request = SizingRequest(
            model=cat.model(model_id),
            input_tokens=u["input_tokens_max"],
            output_tokens=u["output_tokens_max"],
            slo=Slo(ttft_s=u.get("ttft_max"), itl_s=u.get("inter_token_max"), e2e_s=u.get("e2e_max")),
            load=load,
            gpu_types=cat.gpus,
        )
        for _ in range(20):
            size(request)
        wall, cpu = [], []
        for _ in range(runs):
            w0, c0 = time.perf_counter(), time.thread_time()
            result = size(request)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        chosen = result.chosen.label() if result.chosen else "none: " + result.reasons[-1][:60]
        load_text = f"{load.concurrency} users" if load.concurrency else f"{load.requests_per_second} req/s"
        rows.append(
            {
                "case": f"{unique_id} ({u['input_tokens_max']} / {u['output_tokens_max']}), {model_id}, {load_text}",
                "candidates": len(result.candidates),
                "median": statistics.median(wall),
                "p99": percentile(wall, 99),
                "cpu_p99": percentile(cpu, 99),
                "chosen": chosen,
            }
        )
    return rows


def comparison() -> list[dict]:
    cat, rows = catalog(), []
    for p in POINTS:
        setup = Setup(
            model=cat.model(p.model_id),
            gpu=cat.gpu(p.gpu_type),
            tp=p.gpu_count,
            precision=p.precision,
            input_tokens=p.input_tokens,
            output_tokens=p.output_tokens,
        )
        est = setup.at(p.concurrency)
        rows.append(
            {
                "point": p,
                "ttft": est.ttft_s * 1000,
                "itl": est.itl_s * 1000,
                "ttft_err": est.ttft_s * 1000 / p.ttft_ms - 1,
                "itl_err": (est.itl_s * 1000 / p.itl_ms - 1) if p.itl_ms else None,
            }
        )
    return rows


def render(speed_rows: list[dict], compare_rows: list[dict], runs: int) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    out = [
        HEADING,
        "",
        f"Measured {now} with `python bench/sizing_bench.py` (Python {sys.version.split()[0]}, "
        f"load average {load:.2f} at the start, on the shared 2-core machine).",
        "",
        f"### Sizing speed: one use case across the whole catalog ({runs} runs per case after 20 warm-up runs)",
        "",
        "Every run sizes all 10 GPU types x {1, 2, 4, 8} GPUs x {bf16, fp8, int8, int4} (160 candidates), with "
        "the use case's SLOs and upper token bounds. *CPU p99*: the thread's CPU time (what the search itself "
        "costs, without time lost to other processes). Target: p99 < 20 ms.",
        "",
        "| case | candidates | median | p99 | CPU p99 | chosen |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in speed_rows:
        out.append(
            f"| {r['case']} | {r['candidates']} | {r['median']:.2f} ms | {r['p99']:.2f} ms | "
            f"{r['cpu_p99']:.2f} ms | {r['chosen']} |"
        )
    errors = [abs(r["ttft_err"]) for r in compare_rows] + [
        abs(r["itl_err"]) for r in compare_rows if r["itl_err"] is not None
    ]
    validation = [r for r in compare_rows if r["point"].role == "validation"]
    val_errors = [abs(r["ttft_err"]) for r in validation] + [
        abs(r["itl_err"]) for r in validation if r["itl_err"] is not None
    ]
    out += [
        "",
        "### The performance model against published measurements",
        "",
        "Each row is a row of a published table (link in the last column); *model* is `sizing.perf` for the "
        "same model, GPUs, precision, tokens and concurrency (closed loop, as the tables measure it). "
        "*calibration* rows chose the named constants in `sizing/perf.py`; *validation* rows were never used "
        "to choose them. Target: within 25 % for TTFT and ITL.",
        "",
        "| configuration | in / out | users | role | TTFT published | TTFT model | error | ITL published | "
        "ITL model | error | source |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in compare_rows:
        p = r["point"]
        itl_pub = f"{p.itl_ms:.2f} ms" if p.itl_ms else "not published"
        itl_err = f"{r['itl_err']:+.0%}" if r["itl_err"] is not None else ""
        out.append(
            f"| {p.label} | {p.input_tokens} / {p.output_tokens} | {p.concurrency} | {p.role} | "
            f"{p.ttft_ms:.2f} ms | {r['ttft']:.1f} ms | {r['ttft_err']:+.0%} | {itl_pub} | "
            f"{r['itl']:.2f} ms | {itl_err} | {p.source} |"
        )
    out += [
        "",
        f"Largest error over all {len(errors)} figures: {max(errors):.0%}; over the "
        f"{len(val_errors)} validation figures: {max(val_errors):.0%}.",
        "",
        NOTES,
    ]
    return "\n".join(out)


def write(section: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip() + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    runs = 100 if args.quick else 1000
    section = render(speed(runs), comparison(), runs)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
