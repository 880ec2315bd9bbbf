"""Shapes of the sizing API: requests validated here (shape), business rules in sizing.selectors."""

from __future__ import annotations

from rest_framework import serializers

from core.api.fields import StrictFieldsMixin
from sizing.reference import PRECISIONS
from sizing.search import GPU_COUNTS

MAX_TOKENS = 2_000_000
MAX_SECONDS = 604_800.0


class SloSerializer(StrictFieldsMixin, serializers.Serializer):
    ttft_s = serializers.FloatField(min_value=0.0001, max_value=MAX_SECONDS, required=False, allow_null=True)
    itl_s = serializers.FloatField(min_value=0.00001, max_value=MAX_SECONDS, required=False, allow_null=True)
    e2e_s = serializers.FloatField(min_value=0.0001, max_value=MAX_SECONDS, required=False, allow_null=True)


class LoadSerializer(StrictFieldsMixin, serializers.Serializer):
    concurrency = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    requests_per_second = serializers.FloatField(min_value=0.0001, max_value=1_000_000, required=False)

    def validate(self, attrs):
        if "concurrency" in attrs and "requests_per_second" in attrs:
            raise serializers.ValidationError({"requests_per_second": ["Give concurrency or requests_per_second."]})
        return attrs


class WorkloadFields(serializers.Serializer):
    """A use case (its upper token bounds and SLOs) and/or explicit tokens and SLOs, which win."""

    usecase_id = serializers.CharField(max_length=100, required=False, allow_blank=False)
    input_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False)
    output_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False)
    slo = SloSerializer(required=False)
    model_id = serializers.CharField(max_length=200, required=False)
    model_params_b = serializers.FloatField(
        min_value=0.01, max_value=10_000, required=False, help_text="A model not in the catalog, by its size."
    )


class SizingRequestSerializer(StrictFieldsMixin, WorkloadFields):
    load = LoadSerializer(required=False, help_text="Expected load; absent: one user.")
    cluster_id = serializers.UUIDField(required=False, help_text="Size for this cluster's GPU types, prices, capacity.")
    gpu_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    gpu_counts = serializers.ListField(
        child=serializers.ChoiceField(choices=GPU_COUNTS), required=False, allow_empty=False, max_length=4
    )
    precisions = serializers.ListField(
        child=serializers.ChoiceField(choices=PRECISIONS), required=False, allow_empty=False, max_length=4
    )


class EstimateRequestSerializer(StrictFieldsMixin, WorkloadFields):
    gpu_type = serializers.CharField(max_length=100)
    gpu_count = serializers.IntegerField(min_value=1, max_value=64, default=1)
    precision = serializers.ChoiceField(choices=PRECISIONS, default="bf16")
    concurrency = serializers.IntegerField(min_value=1, max_value=100_000, default=1)


class ViolationSerializer(serializers.Serializer):
    slo = serializers.ChoiceField(choices=["ttft_s", "itl_s", "e2e_s"])
    target_s = serializers.FloatField()
    estimate_s = serializers.FloatField(allow_null=True, help_text="null: unbounded")
    miss_s = serializers.FloatField(allow_null=True)
    miss_ratio = serializers.FloatField()


class CandidateSerializer(serializers.Serializer):
    gpu_type = serializers.CharField()
    gpu_count = serializers.IntegerField()
    tensor_parallel = serializers.IntegerField()
    precision = serializers.CharField()
    replicas = serializers.IntegerField()
    total_gpus = serializers.IntegerField()
    concurrency_per_replica = serializers.IntegerField()
    max_concurrency_per_replica = serializers.IntegerField()
    fits = serializers.BooleanField()
    memory_needed_gb = serializers.FloatField()
    memory_available_gb = serializers.FloatField()
    ttft_s = serializers.FloatField(allow_null=True)
    itl_s = serializers.FloatField(allow_null=True)
    e2e_s = serializers.FloatField(allow_null=True)
    tokens_per_s = serializers.FloatField()
    requests_per_s = serializers.FloatField()
    meets_slo = serializers.BooleanField()
    violations = ViolationSerializer(many=True)
    gpu_hour_price = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=True)
    hourly_cost = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    cost_per_million_tokens = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    cluster_can_hold = serializers.BooleanField(allow_null=True)
    cluster_gpu_type = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class WorkloadSerializer(serializers.Serializer):
    usecase_id = serializers.CharField(allow_null=True)
    model_id = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    slo = SloSerializer()
    load = LoadSerializer()


class SizingResultSerializer(serializers.Serializer):
    inputs = WorkloadSerializer()
    candidates = CandidateSerializer(many=True)
    chosen = CandidateSerializer(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())


class EstimateSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    gpu_type = serializers.CharField()
    gpu_count = serializers.IntegerField()
    tensor_parallel = serializers.IntegerField()
    precision = serializers.CharField()
    usecase_id = serializers.CharField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    slo = SloSerializer()
    concurrency = serializers.IntegerField()
    fits = serializers.BooleanField()
    memory_needed_gb = serializers.FloatField()
    memory_available_gb = serializers.FloatField()
    max_concurrency = serializers.IntegerField()
    ttft_s = serializers.FloatField(allow_null=True)
    itl_s = serializers.FloatField(allow_null=True)
    e2e_s = serializers.FloatField(allow_null=True)
    tokens_per_s = serializers.FloatField()
    requests_per_s = serializers.FloatField()
    max_concurrency_at_slo = serializers.IntegerField()
    requests_per_s_at_slo = serializers.FloatField()
    physical_itl_floor_s = serializers.FloatField()
    hourly_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    cost_per_million_tokens = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    saturated = serializers.BooleanField()
    reason = serializers.CharField()


class GpuTypeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    vendor = serializers.CharField()
    architecture = serializers.CharField()
    memory_gb = serializers.FloatField()
    hbm_bandwidth_gbps = serializers.FloatField()
    bf16_tflops = serializers.FloatField()
    fp8_tflops = serializers.FloatField(allow_null=True)
    int8_tops = serializers.FloatField()
    interconnect = serializers.CharField()
    interconnect_gbps = serializers.FloatField()
    precisions = serializers.ListField(child=serializers.CharField())
    default_hourly_usd = serializers.DecimalField(max_digits=10, decimal_places=2)
    aliases = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()
    catalog_version = serializers.CharField()


class ModelSpecSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["llm", "embedding", "reranker"])
    params_b = serializers.FloatField()
    active_params_b = serializers.FloatField(allow_null=True)
    layers = serializers.IntegerField()
    hidden_size = serializers.IntegerField()
    attention_heads = serializers.IntegerField()
    kv_heads = serializers.IntegerField()
    head_dim = serializers.IntegerField()
    intermediate_size = serializers.IntegerField()
    vocab_size = serializers.IntegerField()
    context_length = serializers.IntegerField()
    aliases = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()
    note = serializers.CharField()
    catalog_version = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
