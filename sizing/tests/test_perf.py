"""The performance model on its own: physical limits, memory, precisions, parallelism, concurrency, published data."""

from __future__ import annotations

import math

import pytest

from sizing import perf
from sizing.published import POINTS
from sizing.reference import PRECISION_BYTES, PRECISIONS, catalog, custom_model

CAT = catalog()
LLAMA_8B = CAT.model("meta-llama/Llama-3.1-8B-Instruct")
LLAMA_70B = CAT.model("meta-llama/Llama-3.1-70B-Instruct")


def setup(model=LLAMA_8B, gpu="H100-80GB", tp=1, precision="bf16", n_in=1000, n_out=200):
    return perf.Setup(model=model, gpu=CAT.gpu(gpu), tp=tp, precision=precision, input_tokens=n_in, output_tokens=n_out)


@pytest.mark.parametrize("gpu", [g.id for g in CAT.gpus])
def test_estimates_never_beat_the_physical_limit_on_any_catalog_gpu(gpu):
    checked = 0
    for model in (LLAMA_8B, LLAMA_70B, CAT.model("mixtral-8x7b")):
        for precision in PRECISIONS:
            for tp in (1, 2, 4, 8):
                s = setup(model=model, gpu=gpu, tp=tp, precision=precision)
                for users in (1, 8, 64):
                    est = s.at(users)
                    if not est.fits:
                        continue
                    checked += 1
                    g = CAT.gpu(gpu)
                    # decode: at least the weights one token uses, once, from every GPU's HBM at its full rate
                    weight_bytes = model.compute_params_b * 1e9 * PRECISION_BYTES[precision]
                    assert est.itl_s >= weight_bytes / (tp * g.hbm_bandwidth_gbps * 1e9)
                    # prefill: at least the linear layers' FLOPs at the dense peak of all GPUs
                    flops = 2 * model.compute_params_b * 1e9 * 1000
                    assert est.ttft_s >= flops / (tp * g.compute_tflops(precision) * 1e12)
                    assert est.e2e_s >= est.ttft_s + 199 * est.itl_s * 0.999
                    assert est.tokens_per_s <= users * 200 / est.e2e_s * 1.0001
    assert checked > 0


def test_decode_is_memory_bound_so_itl_follows_bandwidth():
    h100, a100 = setup(gpu="H100-80GB").at(1), setup(gpu="A100-80GB").at(1)
    ratio = a100.itl_s / h100.itl_s
    # the weights dominate one user's step: the ITL ratio approaches the bandwidth ratio 3350 / 2039
    assert 1.3 < ratio < 3350 / 2039 + 0.01


def test_prefill_is_compute_bound_so_fp8_speeds_it_up_on_hopper():
    bf16, fp8 = setup(precision="bf16", n_in=8000).at(1), setup(precision="fp8", n_in=8000).at(1)
    assert fp8.ttft_s < bf16.ttft_s * 0.8


def test_smaller_weights_decode_faster():
    itl = {p: setup(precision=p, gpu="L40S").at(1).itl_s for p in PRECISIONS}
    assert itl["int4"] < itl["fp8"] < itl["bf16"]


def test_precision_support_follows_the_chip():
    assert not setup(gpu="A100-80GB", precision="fp8").at(1).fits
    assert "no fp8 tensor cores" in setup(gpu="A100-80GB", precision="fp8").at(1).reason
    assert setup(gpu="L40S", precision="fp8").at(1).fits
    assert not CAT.gpu("T4").supports("fp8")
    assert CAT.gpu("MI300X").supports("fp8")


def test_memory_decides_fit_and_names_the_need():
    big = CAT.model("llama-3.1-405b")
    one_l4 = setup(model=big, gpu="L4").at(1)
    assert not one_l4.fits
    assert "GB per GPU" in one_l4.reason and one_l4.memory_needed_gb > one_l4.memory_available_gb
    assert setup(model=big, gpu="H100-80GB", tp=8, precision="fp8").at(1).fits
    assert not setup(model=big, gpu="H100-80GB", tp=8, precision="bf16").at(1).fits  # 812 GB of weights


def test_kv_cache_bounds_concurrency():
    s = setup(model=LLAMA_70B, gpu="H100-80GB", tp=2, precision="fp8", n_in=8000, n_out=1000)
    assert s.max_concurrency > 0
    assert s.at(s.max_concurrency).fits
    over = s.at(s.max_concurrency + 1)
    assert not over.fits and "concurrent sequences" in over.reason
    longer = setup(model=LLAMA_70B, gpu="H100-80GB", tp=2, precision="fp8", n_in=16000, n_out=1000)
    assert longer.max_concurrency < s.max_concurrency


def test_tensor_parallel_cuts_latency_but_pays_for_communication():
    one = setup(model=LLAMA_70B, tp=2, precision="fp8").at(1)
    four = setup(model=LLAMA_70B, tp=4, precision="fp8").at(1)
    assert four.itl_s < one.itl_s
    assert four.itl_s > one.itl_s / 2  # not a perfect split: two all-reduces per layer per step
    nvlink = perf.Setup(
        model=LLAMA_8B, gpu=CAT.gpu("H100-80GB"), tp=4, precision="bf16", input_tokens=1000, output_tokens=200
    )
    assert nvlink._comm_seconds(1) < perf.Setup(
        model=LLAMA_8B, gpu=CAT.gpu("L40S"), tp=4, precision="bf16", input_tokens=1000, output_tokens=200
    )._comm_seconds(1)


def test_heads_must_split_over_the_gpus():
    qwen7 = CAT.model("qwen2.5-7b")  # 28 attention heads
    est = setup(model=qwen7, tp=8).at(1)
    assert not est.fits and "28 attention heads" in est.reason


def test_latency_grows_with_concurrency_and_so_does_throughput():
    s = setup(n_in=2000, n_out=300)
    previous = None
    for users in (1, 4, 16, 64):
        est = s.at(users)
        if previous:
            assert est.ttft_s >= previous.ttft_s and est.itl_s >= previous.itl_s
            assert est.tokens_per_s > previous.tokens_per_s
        previous = est


def test_the_context_window_bounds_a_request():
    phi = CAT.model("phi-3-mini")  # 4k context
    est = setup(model=phi, n_in=5000, n_out=100).at(1)
    assert not est.fits and "context" in est.reason


def test_custom_model_from_explicit_figures():
    model = custom_model(model_params_b=13, layers=40)
    assert model.layers == 40 and model.params_b == 13
    assert setup(model=model).at(1).fits


def test_cost_per_million_tokens_is_decimal():
    from decimal import Decimal

    assert perf.cost_per_million_tokens(Decimal("3.60"), 1000.0) == Decimal("1.0000")
    assert perf.cost_per_million_tokens(Decimal("3.60"), 0.0) is None


@pytest.mark.parametrize("point", POINTS, ids=lambda p: f"{p.role}-{p.input_tokens}-{p.output_tokens}-c{p.concurrency}")
def test_within_25_percent_of_every_published_measurement(point):
    s = perf.Setup(
        model=CAT.model(point.model_id),
        gpu=CAT.gpu(point.gpu_type),
        tp=point.gpu_count,
        precision=point.precision,
        input_tokens=point.input_tokens,
        output_tokens=point.output_tokens,
    )
    est = s.at(point.concurrency)
    assert math.isclose(est.ttft_s * 1000, point.ttft_ms, rel_tol=0.25)
    if point.itl_ms is not None:
        assert math.isclose(est.itl_s * 1000, point.itl_ms, rel_tol=0.25)
