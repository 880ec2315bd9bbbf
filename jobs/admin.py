from django import forms
from django.contrib import admin, messages

from core.exceptions import ServiceError
from jobs import services
from jobs.models import Cluster, Job
from jobs.validation import parse_priority, validate_labels
from tenancy.selectors import user_can_write, user_is_tenant_admin

CLUSTER_SETTINGS = ("driver", "inventory", "prices", "simulation")
CLUSTER_CHANGEABLE = ("name", "status", *CLUSTER_SETTINGS)
JOB_CHANGEABLE = ("priority", "labels")


def _form_errors(form: forms.Form, exc: ServiceError) -> None:
    for path, reasons in exc.errors.items():
        field, _, rest = path.partition(".")
        for reason in reasons:
            form.add_error(field if field in form.fields else None, f"{rest}: {reason}" if rest else reason)
    if not exc.errors:
        form.add_error(None, exc.detail)


class ClusterAdminForm(forms.ModelForm):
    """Checks a cluster's settings with the API's checks (driver, inventory, prices, simulation, what jobs hold)."""

    class Meta:
        model = Cluster
        fields = ["tenant", *CLUSTER_CHANGEABLE]

    user = None  # the acting user, set by ClusterAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant")
        if self.instance._state.adding and tenant and not user_is_tenant_admin(self.user, tenant.pk):
            self.add_error("tenant", "Only the tenant's admins manage clusters.")
        if any(name in self.errors for name in CLUSTER_SETTINGS):
            return cleaned
        existing = None if self.instance._state.adding else self.instance
        settings = {name: cleaned.get(name, getattr(self.instance, name)) for name in CLUSTER_SETTINGS}
        try:
            services.cluster_validate(cluster=existing, **settings)
        except ServiceError as exc:
            _form_errors(self, exc)
        # The tenant is read-only on a change, so the model's unique (tenant, name) check would skip it.
        name = cleaned.get("name")
        if existing is not None and name:
            clash = Cluster.objects.filter(tenant_id=existing.tenant_id, name=name).exclude(pk=existing.pk)
            if clash.exists():
                self.add_error("name", "A cluster with this name already exists in the tenant.")
        return cleaned


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Clusters change through the services: the API's checks, and a scheduling pass after a change."""

    form = ClusterAdminForm
    list_display = ["name", "tenant", "driver", "status", "created_at"]
    search_fields = ["name", "id", "tenant__name"]
    list_filter = ["driver", "status", "tenant"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "jobs_submitted", "created_at", "updated_at"]

    @admin.display(description="jobs submitted")
    def jobs_submitted(self, obj: Cluster) -> int:
        # Counted on read: the jobs recorded on the cluster (PostgreSQL numbers jobs without a counter on its row).
        return obj.jobs.count() if obj.pk else 0

    def get_readonly_fields(self, request, obj=None):
        # Prices change with an effective date through billing (POST /api/v1/price-lists), never over the cluster.
        return [*self.readonly_fields, "tenant", "prices"] if obj is not None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or user_is_tenant_admin(request.user, obj.tenant_id))

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in CLUSTER_CHANGEABLE if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            saved = services.cluster_update(cluster=obj, user=request.user, **changed)
        else:
            saved = services.cluster_create(tenant=form.cleaned_data["tenant"], user=request.user, **data)
        obj.pk = saved.pk
        obj.refresh_from_db()


class JobAdminForm(forms.ModelForm):
    """Only priority and labels change in the admin, checked as in the API."""

    class Meta:
        model = Job
        fields = list(JOB_CHANGEABLE)

    def clean_priority(self):
        try:
            return parse_priority(self.cleaned_data["priority"])
        except ServiceError as exc:
            raise forms.ValidationError(exc.errors["priority"]) from None

    def clean_labels(self):
        try:
            return validate_labels(self.cleaned_data["labels"])
        except ServiceError as exc:
            raise forms.ValidationError([f"{path}: {'; '.join(r)}" for path, r in exc.errors.items()]) from None

    def clean(self):
        cleaned = super().clean()
        if "priority" in self.changed_data and self.instance.is_terminal:
            self.add_error("priority", f"The job is already {self.instance.status}; its priority cannot change.")
        return cleaned


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are read-only here except priority and labels: they are created by the API and the deployments, and
    change state only through the driver (cancel with the action)."""

    form = JobAdminForm
    list_display = ["name", "cluster", "job_type", "source_type", "status", "priority", "created_at", "actual_cost"]
    search_fields = ["name", "id", "usecase_deployment_id", "component_deployment_id", "project__name"]
    list_filter = ["status", "job_type", "source_type", "cluster"]
    list_select_related = ["cluster", "tenant", "project"]
    actions = ["cancel_jobs"]

    def get_readonly_fields(self, request, obj=None):
        changeable = JOB_CHANGEABLE if obj is None or not obj.is_terminal else ("labels",)
        return [field.name for field in Job._meta.fields if field.name not in changeable]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a job keeps its record: cancel it instead

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or user_can_write(request.user, obj.tenant_id))

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data[name] for name in JOB_CHANGEABLE if name in form.changed_data}
        services.job_update(job=obj, user=request.user, **changed)

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset.select_related("cluster"):
            if job.is_terminal:
                continue
            try:
                services.job_cancel(job=job, user=request.user, reason=f"cancelled by {request.user} in the admin")
                cancelled += 1
            except ServiceError as exc:
                self.message_user(request, f"{job}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} job(s).", messages.SUCCESS)
