from django.contrib import admin

from autoscaling.models import AutoscalingPolicy, ScalingDecision, WarmPool


@admin.register(AutoscalingPolicy)
class AutoscalingPolicyAdmin(admin.ModelAdmin):
    list_display = ("deployment", "component_key", "min_replicas", "max_replicas", "signal", "target", "enabled")
    list_filter = ("signal", "enabled")
    raw_id_fields = ("deployment", "updated_by")


@admin.register(ScalingDecision)
class ScalingDecisionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "deployment", "component_key", "from_replicas", "to_replicas", "outcome", "reason")
    list_filter = ("direction", "outcome")
    raw_id_fields = ("deployment",)
    readonly_fields = [f.name for f in ScalingDecision._meta.fields]


@admin.register(WarmPool)
class WarmPoolAdmin(admin.ModelAdmin):
    """Pools are resized by the autoscaler's beat from their sizing; an edit here takes effect at its next pass."""

    list_display = ("cluster", "gpu_type", "gpu_count", "sizing", "size", "min_size", "per_zero", "miss", "tenant")
    list_filter = ("sizing", "gpu_type")
    list_select_related = ("cluster", "tenant")
    raw_id_fields = ("tenant", "cluster", "project", "created_by")
