from decimal import Decimal

from rest_framework import serializers

from autoscaling.models import ScalingDecision, WarmPool
from autoscaling.policy import SIGNALS


class PolicySerializer(serializers.Serializer):
    """The fields of a policy (all optional in a PUT: each is laid over the policy that applies now)."""

    min_replicas = serializers.IntegerField(min_value=0, required=False, help_text="0: scale to zero when idle.")
    max_replicas = serializers.IntegerField(min_value=1, required=False)
    signal = serializers.ChoiceField(choices=SIGNALS, required=False)
    target = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Per replica (concurrency, queue depth), a share (GPU), or seconds "
        "(SLO signals; null: the use case's target).",
    )
    scale_up_window_s = serializers.IntegerField(min_value=0, required=False)
    scale_down_window_s = serializers.IntegerField(min_value=0, required=False)
    max_step = serializers.IntegerField(min_value=1, required=False)
    idle_timeout_s = serializers.IntegerField(min_value=60, required=False)
    enabled = serializers.BooleanField(required=False)


class ComponentPolicySerializer(serializers.Serializer):
    component = serializers.CharField()
    source = serializers.ChoiceField(choices=["api", "template", "none"])
    replicas = serializers.IntegerField(help_text="Replicas the deployment asks for now.")
    policy = PolicySerializer(allow_null=True)
    effective_target = serializers.FloatField(
        allow_null=True, help_text="The target used (an SLO signal's from the use case)."
    )


class AutoscalingSerializer(serializers.Serializer):
    components = ComponentPolicySerializer(many=True)


class AutoscalingUpdateSerializer(serializers.Serializer):
    components = serializers.DictField(
        child=PolicySerializer(allow_null=True),
        help_text="{component key: policy fields}; null drops the deployment's own policy (the template's applies).",
    )


class ScalingDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScalingDecision
        fields = [
            "id",
            "component_key",
            "from_replicas",
            "to_replicas",
            "direction",
            "outcome",
            "signal",
            "value",
            "target",
            "reason",
            "revision",
            "predicted_start",
            "created_at",
        ]


class ColdStartSerializer(serializers.Serializer):
    image_s = serializers.FloatField(help_text="Image pull (or found in the node's cache).")
    weights_s = serializers.FloatField(help_text="Model bytes over the storage throughput.")
    warmup_s = serializers.FloatField(help_text="Engine warm-up (or a pool engine taking the model).")
    total_s = serializers.FloatField()
    pooled = serializers.BooleanField(help_text="Started from a pre-warmed pool replica.")


class WokenSerializer(serializers.Serializer):
    component = serializers.CharField()
    cold_start = ColdStartSerializer()


class WakeSerializer(serializers.Serializer):
    woken = WokenSerializer(many=True)


class WarmPoolSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    cluster_id = serializers.UUIDField()
    project_id = serializers.UUIDField(help_text="Whose bill the standby replicas are on (the cluster's tenant).")
    gpu_type = serializers.CharField()
    gpu_count = serializers.IntegerField(default=1, help_text="GPUs per standby replica.")
    size = serializers.IntegerField(help_text="Standby replicas kept warm (0 stops them); sized otherwise, at most.")
    sizing = serializers.ChoiceField(
        choices=WarmPool.Sizing.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="fixed: always `size`. per_zero: `per_zero` standbys per component at zero on the cluster and GPU "
        "type. wakes_together: the fewest standbys that leave a wake at most a `miss` chance of finding none, for "
        "the components at zero waking at yesterday's rate in the same hour, over one refill (the cluster's standby "
        "start). Both sized ways keep none while none is at zero and are resized by the autoscaler every 15 s. "
        "Empty: per_zero when `per_zero` is given, else fixed.",
    )
    per_zero = serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="With sizing per_zero: standbys per component at zero (rounded up, 0.01-1).",
    )
    min_size = serializers.IntegerField(
        default=1, help_text="Sized pools: standbys at least while any component of the type is at zero."
    )
    miss = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.010"),
        help_text="With sizing wakes_together: the chance a wake may find no standby ready (0.001-0.5).",
    )
    wanted = serializers.IntegerField(read_only=True, help_text="Standbys the pool wants now.")
    standby = serializers.IntegerField(read_only=True, help_text="Standby jobs running or starting now.")
    hourly_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, help_text="What the standby replicas cost per hour now."
    )
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, pool):
        standby, cost = self.context["standby"].get(pool.pk, (0, 0))
        wanted = self.context.get("wanted", {}).get(pool.pk, pool.size)
        return {
            "id": str(pool.pk),
            "cluster_id": str(pool.cluster_id),
            "project_id": str(pool.project_id),
            "gpu_type": pool.gpu_type,
            "gpu_count": pool.gpu_count,
            "size": pool.size,
            "sizing": pool.sizing,
            "per_zero": None if pool.per_zero is None else f"{pool.per_zero:.2f}",
            "min_size": pool.min_size,
            "miss": f"{pool.miss:.3f}",
            "wanted": wanted,
            "standby": standby,
            "hourly_cost": f"{cost:.2f}",
            "updated_at": pool.updated_at.isoformat(),
        }
