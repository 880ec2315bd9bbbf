from django.contrib import admin

from autoscaling.models import AutoscalingPolicy, ScalingDecision


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
