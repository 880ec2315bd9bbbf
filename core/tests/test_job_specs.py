"""The one home of a job spec's shape: what it builds is what the job layer accepts."""

from __future__ import annotations

import pytest

from core.job_specs import job_spec, with_config, with_inputs
from jobs.validation import validate_spec


@pytest.mark.parametrize(
    ("deployment_type", "extra"),
    [
        ("HELM", {"helm_repo": "https://charts.example.com", "helm_chart": "redis", "helm_version": "1.0.0"}),
        ("MODEL", {"model_id": "meta-llama/Llama-3.1-8B", "image": "vllm/vllm-openai", "image_tag": "v0.6"}),
        ("DOCKER", {"image": "nginx", "image_tag": "1.27"}),
    ],
)
def test_every_kind_built_passes_the_schema(deployment_type, extra):
    spec = job_spec(deployment_type=deployment_type, config={"max_model_len": 8192}, env={"A": "1"}, port=80, **extra)
    assert validate_spec(spec) == spec


def test_a_model_servers_flags_follow_its_config():
    spec = job_spec(deployment_type="MODEL", config={"max_model_len": 8192}, env={}, model_id="m", image="i")
    assert spec["args"] == ["--max-model-len=8192"]
    changed = with_config(spec, {"max_model_len": 4096, "enforce_eager": True, "quantization": None})
    assert changed["args"] == ["--max-model-len=4096", "--enforce-eager"]
    assert spec["args"] == ["--max-model-len=8192"]  # the original is left as it was


def test_rendered_inputs_set_the_environment_only_when_there_is_one():
    helm = job_spec(deployment_type="HELM", config={}, env={}, helm_repo="https://c.example.com", helm_chart="x")
    assert "env" not in with_inputs(helm, env={})
    assert with_inputs(helm, env={"URL": "http://x:80"})["env"] == {"URL": "http://x:80"}
    assert "env" not in helm
