"""Placement: a preferred GPU type stays when the cluster has it; otherwise the cheapest that fits, said so."""

from __future__ import annotations

from decimal import Decimal

from sizing.placement import cluster_gpus, place
from sizing.reference import catalog

CAT = catalog()
LLAMA_8B = CAT.model("llama-3.1-8b")
LLAMA_70B = CAT.model("llama-3.1-70b")


def gpus(**inventory):
    prices = {"gpu_hour": {"H100-80GB": 2.5, "A100-80GB": 1.8, "L40S": 1.0, "L4": 0.6, "H100": 2.4}}
    return cluster_gpus({"gpus": {k.replace("_", "-"): v for k, v in inventory.items()}}, prices)


def test_preferred_type_on_the_cluster_stays():
    result = place(
        preferred="L4",
        required=False,
        gpu_count=1,
        gpus=gpus(L4=8, H100_80GB=8),
        model=CAT.model("BAAI/bge-base-en-v1.5"),
        context_tokens=512,
    )
    assert result.gpu_type == "L4" and result.note == ""


def test_missing_preference_takes_the_cheapest_type_that_fits_and_says_so():
    result = place(
        preferred="L4",
        required=False,
        gpu_count=1,
        gpus=gpus(H100_80GB=8, A100_80GB=8),
        model=CAT.model("BAAI/bge-base-en-v1.5"),
        context_tokens=512,
    )
    assert result.gpu_type == "A100-80GB"
    assert result.note.startswith("preferred L4 not on this cluster") and result.fitting == ("A100-80GB", "H100-80GB")


def test_memory_rules_out_a_cheaper_type():
    # 70B in bf16 is 141 GB of weights: not on one or two GPUs of 80 GB (90 % usable), on four L40S (the cheapest)
    for count in (1, 2):
        result = place(
            preferred="A100-80GB", required=False, gpu_count=count, gpus=gpus(L40S=8, H100_80GB=8), model=LLAMA_70B
        )
        assert result.gpu_type is None and "No GPU type on this cluster fits" in result.error
        assert "GB per GPU" in result.error
    four = place(preferred="A100-80GB", required=False, gpu_count=4, gpus=gpus(L40S=8, H100_80GB=8), model=LLAMA_70B)
    assert four.gpu_type == "L40S" and four.fitting == ("L40S", "H100-80GB")
    qwen32 = CAT.model("qwen2.5-32b")  # 65 GB of bf16 weights: one H100, not one L40S; in fp8 one L40S
    assert (
        place(preferred="A100-80GB", required=False, gpu_count=1, gpus=gpus(L40S=8, H100_80GB=8), model=qwen32).gpu_type
        == "H100-80GB"
    )
    assert (
        place(
            preferred="A100-80GB",
            required=False,
            gpu_count=1,
            gpus=gpus(L40S=8, H100_80GB=8),
            model=qwen32,
            precision="fp8",
        ).gpu_type
        == "L40S"
    )


def test_a_required_type_is_refused_naming_the_types_that_fit():
    result = place(preferred="A100-80GB", required=True, gpu_count=1, gpus=gpus(L40S=8, H100_80GB=8), model=LLAMA_8B)
    assert result.gpu_type is None
    assert result.error == "A100-80GB is required and not on this cluster; types that would fit: L40S, H100-80GB."


def test_aliases_count_as_the_preferred_type():
    result = place(preferred="H100-80GB", required=True, gpu_count=1, gpus=gpus(H100=4), model=LLAMA_8B)
    assert result.gpu_type == "H100" and not result.error


def test_too_few_gpus_do_not_fit():
    result = place(preferred="H100-80GB", required=False, gpu_count=8, gpus=gpus(H100_80GB=4, L40S=8), model=LLAMA_8B)
    assert result.gpu_type == "L40S" and "does not fit" in result.note


def test_unknown_gpu_types_and_models_are_placed_without_a_memory_check():
    inventory = cluster_gpus({"gpus": {"RTX-6000": 4}}, {})
    assert place(preferred="L4", required=False, gpu_count=1, gpus=inventory, model=None).gpu_type == "RTX-6000"
    assert inventory[0].spec is None and inventory[0].sort_price == Decimal("Infinity")


def test_cpu_components_are_not_placed():
    assert place(preferred=None, required=False, gpu_count=0, gpus=gpus(L4=1)).gpu_type is None
