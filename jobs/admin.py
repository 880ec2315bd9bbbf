from django.contrib import admin, messages

from core.exceptions import ServiceError
from jobs import services
from jobs.models import Cluster, Job


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "driver", "status", "created_at"]
    search_fields = ["name", "id", "tenant__name"]
    list_filter = ["driver", "status", "tenant"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "jobs_submitted", "created_at", "updated_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "cluster", "job_type", "source_type", "status", "priority", "created_at", "actual_cost"]
    search_fields = ["name", "id", "usecase_deployment_id", "component_deployment_id", "project__name"]
    list_filter = ["status", "job_type", "source_type", "cluster"]
    list_select_related = ["cluster", "tenant", "project"]
    raw_id_fields = ["cluster", "tenant", "project"]
    readonly_fields = [
        "id",
        "status",
        "status_message",
        "queue_key",
        "sequence",
        "outputs",
        "created_at",
        "updated_at",
        "queued_at",
        "admitted_at",
        "started_at",
        "completed_at",
        "hourly_rate",
        "estimated_cost",
        "actual_cost",
    ]
    actions = ["cancel_jobs"]

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset.select_related("cluster"):
            if job.is_terminal:
                continue
            try:
                services.job_cancel(job=job, reason=f"cancelled by {request.user} in the admin")
                cancelled += 1
            except ServiceError as exc:
                self.message_user(request, f"{job}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} job(s).", messages.SUCCESS)
