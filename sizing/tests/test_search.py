"""The sizing search: cheapest candidate meeting every SLO, replicas for the load, reasons when none does."""

from __future__ import annotations

from decimal import Decimal

from sizing.reference import catalog
from sizing.search import Load, SizingRequest, Slo, candidate_gpus, size

CAT = catalog()


def request(model="llama-3.1-8b", gpus=None, slo=None, load=None, n_in=1000, n_out=200, **kwargs):
    return SizingRequest(
        model=CAT.model(model),
        input_tokens=n_in,
        output_tokens=n_out,
        slo=slo or Slo(),
        load=load or Load(concurrency=1),
        gpu_types=candidate_gpus(CAT.gpus, gpus),
        **kwargs,
    )


def test_picks_the_cheaper_gpu_when_both_meet_the_slo():
    result = size(request(gpus=["H100-80GB", "A100-80GB"], slo=Slo(ttft_s=2.0, itl_s=0.1)))
    assert result.chosen.gpu_type == "A100-80GB"  # $2.00 against $4.00 a GPU-hour, and both are fast enough
    assert result.chosen.hourly_cost == Decimal("2.00") and result.chosen.gpu_count == 1
    assert any(c.gpu_type == "H100-80GB" and c.meets_slo for c in result.candidates)


def test_picks_the_faster_gpu_when_only_it_meets_the_slo():
    # one user's ITL: 8B bf16 reads 16 GB a token; only H100's bandwidth gets it under 10 ms on one GPU
    result = size(
        request(gpus=["H100-80GB", "A100-80GB"], slo=Slo(itl_s=0.0095), gpu_counts=(1,), precisions=("bf16",))
    )
    assert result.chosen.gpu_type == "H100-80GB"
    a100 = next(c for c in result.candidates if c.gpu_type == "A100-80GB")
    assert not a100.meets_slo and a100.violations[0]["slo"] == "itl_s" and a100.violations[0]["miss_s"] > 0


def test_a_tighter_ttft_raises_gpu_count_or_changes_type():
    base = dict(model="llama-3.1-70b", n_in=8000, n_out=100, precisions=("fp8",))
    loose = size(request(slo=Slo(ttft_s=2.0), **base)).chosen
    tight = size(request(slo=Slo(ttft_s=0.45), **base)).chosen
    assert loose and tight
    assert (tight.gpu_count, tight.gpu_type) != (loose.gpu_count, loose.gpu_type)
    assert tight.gpu_count > loose.gpu_count or tight.gpu_type != loose.gpu_type
    assert (
        tight.ttft_s
        <= 0.45
        < size(request(slo=Slo(ttft_s=2.0), gpus=[loose.gpu_type], gpu_counts=(loose.gpu_count,), **base))
        .candidates[0]
        .ttft_s
    )


def test_memory_decides_when_the_model_does_not_fit():
    result = size(request(model="llama-3.1-405b", gpus=["L4", "T4"]))  # 8 x 24 GB < 215 GB of int4
    assert result.chosen is None
    assert not any(c.fits for c in result.candidates)
    assert "fits no candidate" in result.reasons[0]
    on_h100 = size(request(model="llama-3.1-405b", gpus=["H100-80GB"], precisions=("bf16", "fp8"))).chosen
    assert (on_h100.gpu_count, on_h100.precision) == (8, "fp8")  # 812 GB of bf16 weights fit nowhere
    assert size(request(model="llama-3.1-405b", gpus=["H100-80GB"])).chosen.precision == "int4"  # on 4 GPUs


def test_replicas_follow_the_load():
    slo = Slo(ttft_s=1.0, itl_s=0.05)
    small = size(request(gpus=["L4"], slo=slo, load=Load(concurrency=4), gpu_counts=(1,), precisions=("int4",)))
    large = size(request(gpus=["L4"], slo=slo, load=Load(concurrency=400), gpu_counts=(1,), precisions=("int4",)))
    assert small.chosen.replicas == 1
    assert large.chosen.replicas > 1
    assert large.chosen.hourly_cost == Decimal("0.70") * large.chosen.replicas
    assert large.chosen.concurrency_per_replica * large.chosen.replicas >= 400
    by_rate = size(
        request(gpus=["L4"], slo=slo, load=Load(requests_per_second=30), gpu_counts=(1,), precisions=("int4",))
    )
    assert by_rate.chosen.requests_per_s >= 30 * 0.9


def test_no_candidate_names_the_slo_and_the_miss():
    result = size(request(model="llama-3.1-70b", slo=Slo(itl_s=0.001)))
    assert result.chosen is None
    assert "No candidate meets every SLO" in result.reasons[0]
    assert "inter-token latency" in result.reasons[0] and "misses by" in result.reasons[0]
    assert all(not c.meets_slo for c in result.candidates)


def test_cluster_prices_and_capacity():
    result = size(
        request(
            gpus=["H100-80GB", "A100-80GB"],
            prices={"H100-80GB": Decimal("1.00")},
            free_gpus={"H100-80GB": 1, "A100-80GB": 0},
            slo=Slo(itl_s=0.1),
        )
    )
    assert result.chosen.gpu_type == "H100-80GB" and result.chosen.hourly_cost == Decimal("1.00")
    assert result.chosen.cluster_can_hold is True
    assert any(c.gpu_type == "A100-80GB" and c.cluster_can_hold is False for c in result.candidates)


def test_unknown_cluster_types_are_named_in_the_reasons():
    result = size(request(gpus=["L4"], unsized_gpu_types=("RTX-6000",)))
    assert "'RTX-6000'" in result.reasons[0] and "not in the GPU catalog" in result.reasons[0]


def test_ranking_puts_every_slo_meeting_candidate_first_cheapest_first():
    result = size(request(slo=Slo(ttft_s=0.5, itl_s=0.03), load=Load(concurrency=20)))
    meeting = [c for c in result.candidates if c.meets_slo]
    assert result.candidates[: len(meeting)] == meeting
    assert [c.hourly_cost for c in meeting] == sorted(c.hourly_cost for c in meeting)
    assert result.as_dict()["chosen"]["gpu_type"] == result.chosen.gpu_type
