"""The shipped reference data: complete, sourced, and found by the names clusters and users write."""

from __future__ import annotations

import pytest

from sizing.reference import catalog

CAT = catalog()

REQUIRED_GPUS = ["H100-80GB", "H200-141GB", "A100-80GB", "A100-40GB", "L40S", "L4", "A10G", "T4", "B200", "MI300X"]


def test_catalog_has_every_gpu_the_issue_names_with_sources():
    assert [g.id for g in CAT.gpus if g.id in REQUIRED_GPUS] and {g.id for g in CAT.gpus} >= set(REQUIRED_GPUS)
    for gpu in CAT.gpus:
        assert gpu.source.startswith("https://")
        assert gpu.memory_gb > 0 and gpu.hbm_bandwidth_gbps > 0 and gpu.bf16_tflops > 0


def test_models_have_architecture_figures_and_sources():
    for model in CAT.models:
        assert model.source.startswith("https://")
        assert model.layers and model.hidden_size and model.attention_heads and model.kv_heads and model.head_dim
    assert CAT.model("mixtral-8x7b").compute_params_b < CAT.model("mixtral-8x7b").params_b
    for wanted in ("BAAI/bge-base-en-v1.5", "BAAI/bge-large-en-v1.5", "BAAI/bge-reranker-large"):
        assert CAT.model(wanted) is not None  # what the system templates deploy


@pytest.mark.parametrize("name", ["H100", "NVIDIA-H100-80GB-HBM3", "h100_80gb", "nvidia h100 80gb hbm3"])
def test_inventory_names_map_onto_the_catalog(name):
    assert CAT.gpu(name).id == "H100-80GB"


def test_unknown_names_get_near_suggestions():
    assert CAT.gpu("RTX-4090") is None
    assert "H100-80GB" in CAT.near_gpus("H100-94GB")
    assert CAT.model("meta-llama/Llama-3.1-9B-Instruct") is None
    assert "meta-llama/Llama-3.1-8B-Instruct" in CAT.near_models("meta-llama/Llama-3.1-9B-Instruct")
    assert CAT.model("META-LLAMA/llama-3.1-8b-instruct").id == "meta-llama/Llama-3.1-8B-Instruct"


def test_catalog_is_versioned():
    assert CAT.gpu_version and CAT.model_version
