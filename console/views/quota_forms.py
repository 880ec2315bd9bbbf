"""Queues edited in the console: create, edit and delete ClusterQueues (cohort, nominal quota per GPU type, CPU and
memory, borrowing and lending limits, weight, preemption policies) and the LocalQueues that send a tenant's (or a
project's) jobs to them. As the alert-rule and channel forms: the API's serializers check each submission (the same
field errors, shown beside the fields), `jobs.services` writes it, everything is read through the quota selectors
(another tenant's queue is a 404) and only the tenant's admins write (403 otherwise)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.views.alert_config import _save
from core.exceptions import Conflict, ServiceError
from jobs import quota_selectors, services
from jobs.api.quota_serializers import ClusterQueueSerializer, LocalQueueSerializer
from jobs.models import ClusterQueue
from jobs.selectors import cluster_list
from tenancy.models import Project
from tenancy.selectors import user_is_tenant_admin

LIMITS = (("nominal", "nominal_quota", "Nominal"), ("borrowing", "borrowing_limit", "Borrowing limit"),
          ("lending", "lending_limit", "Lending limit"))  # fmt: skip
SCALARS = (("cpu_cores", "CPU cores"), ("memory_gib", "Memory (GiB)"))


def _resource_field(kind: str, resource: str, label: str):
    help_text = {
        "nominal": "Empty: not limited by this queue.",
        "borrowing": "Empty: no limit.",
        "lending": "Empty: lends all it does not use.",
    }[kind]
    attrs = {"inputmode": "numeric" if resource.startswith("gpu") else "decimal"}
    if resource.startswith("gpu"):
        return forms.IntegerField(required=False, min_value=0, label=label, help_text=help_text,
                                  widget=forms.NumberInput(attrs=attrs))  # fmt: skip
    return forms.DecimalField(required=False, min_value=0, decimal_places=3, label=label, help_text=help_text,
                              widget=forms.NumberInput(attrs={**attrs, "step": "any"}))  # fmt: skip


class QueueForm(forms.Form):
    """A ClusterQueue; its resource fields are `<kind>__gpu__<type>` and `<kind>__<cpu_cores|memory_gib>`."""

    cluster = forms.ChoiceField(choices=(), help_text="A cluster of a tenant you administer.")
    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits and '-'.")
    cohort = forms.CharField(
        required=False, max_length=63, help_text="Queues of a cohort lend each other their unused quota."
    )
    weight = forms.DecimalField(min_value=Decimal("0.001"), max_digits=8, decimal_places=3, initial=Decimal("1"),
                                help_text="Fair-share weight within the cohort.")  # fmt: skip
    reclaim_within_cohort = forms.ChoiceField(
        choices=ClusterQueue.ReclaimPolicy.choices,
        initial=ClusterQueue.ReclaimPolicy.ANY,
        help_text="Whom it may preempt in the cohort to get its nominal quota back.",
    )
    within_cluster_queue = forms.ChoiceField(
        choices=ClusterQueue.WithinQueuePolicy.choices,
        initial=ClusterQueue.WithinQueuePolicy.NEVER,
        help_text="Whether a higher-priority job preempts lower ones of the queue.",
    )
    fair_sharing_preemption = forms.ChoiceField(
        choices=ClusterQueue.FairSharingPreemption.choices,
        initial=ClusterQueue.FairSharingPreemption.NEVER,
        help_text="Whether, below its fair share, it preempts borrowers of queues above theirs (Kueue's strategies).",
    )

    def __init__(self, *args, clusters, queue: ClusterQueue | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue = queue
        if queue is not None:  # a queue stays on its cluster
            del self.fields["cluster"]
        else:
            self.fields["cluster"].choices = [(str(c.pk), f"{c.name} ({c.tenant.name})") for c in clusters]
        gpu_types = sorted({t for c in clusters for t in ((c.inventory or {}).get("gpus") or {})})
        self.resources = [(f"gpu__{t}", f"{t} GPUs") for t in gpu_types] + list(SCALARS)
        for resource, _label in self.resources:
            for kind, _key, kind_label in LIMITS:
                self.fields[f"{kind}__{resource}"] = _resource_field(kind, resource, kind_label)
        if queue is not None:
            self.initial.update(self._initial_of(queue))

    def _initial_of(self, queue: ClusterQueue) -> dict:
        initial = {"name": queue.name, "cohort": queue.cohort, "weight": queue.weight,
                   "reclaim_within_cohort": queue.reclaim_within_cohort,
                   "within_cluster_queue": queue.within_cluster_queue,
                   "fair_sharing_preemption": queue.fair_sharing_preemption}  # fmt: skip
        for kind, key, _label in LIMITS:
            quota = getattr(queue, key) or {}
            for gpu_type, count in (quota.get("gpus") or {}).items():
                initial[f"{kind}__gpu__{gpu_type}"] = count
            for scalar, _ in SCALARS:
                if quota.get(scalar) is not None:
                    initial[f"{kind}__{scalar}"] = quota[scalar]
        return initial

    def resource_rows(self) -> list[dict]:
        """One row per resource with its three bound fields, for the template's grid."""
        return [
            {"label": label, "fields": [self[f"{kind}__{resource}"] for kind, _key, _l in LIMITS]}
            for resource, label in self.resources
        ]

    def other_fields(self) -> list:
        return [self[name] for name in self.fields if "__" not in name]

    def payload(self) -> dict:
        data = {key: self.cleaned_data[key] for key in ("name", "cohort", "reclaim_within_cohort",
                                                        "within_cluster_queue", "fair_sharing_preemption")}  # fmt: skip
        data["weight"] = str(self.cleaned_data["weight"])
        if "cluster" in self.fields:
            data["cluster_id"] = self.cleaned_data["cluster"]
        for kind, key, _label in LIMITS:
            quota: dict = {"gpus": {}}
            for resource, _ in self.resources:
                value = self.cleaned_data.get(f"{kind}__{resource}")
                if value is None:
                    continue
                if resource.startswith("gpu__"):
                    quota["gpus"][resource[len("gpu__") :]] = value
                else:
                    quota[resource] = int(value) if value == int(value) else float(value)
            data[key] = quota
        return data

    def add_service_errors(self, errors: dict) -> None:
        """Errors of the serializer or the service ("nominal_quota.gpus.H100-80GB", "cluster_id") on the field."""
        kinds = {key: kind for kind, key, _ in LIMITS}
        for path, reasons in errors.items():
            parts = path.split(".")
            name = {"cluster_id": "cluster"}.get(path, parts[0])
            if parts[0] in kinds and len(parts) >= 2:
                name = f"{kinds[parts[0]]}__gpu__{parts[2]}" if parts[1] == "gpus" and len(parts) > 2 else None
                name = name or f"{kinds[parts[0]]}__{parts[1]}"
            elif parts[0] in kinds:
                name = None
            reasons = reasons if isinstance(reasons, list) else [reasons]
            if name not in self.fields:
                reasons, name = [f"{path}: {reason}" for reason in reasons], None
            self.add_error(name, [str(reason) for reason in reasons])


def admin_clusters(user) -> list:
    """The clusters of the tenants the user administers (where queues may be added)."""
    return [c for c in cluster_list(user=user).select_related("tenant").order_by("name")
            if user_is_tenant_admin(user, c.tenant_id)]  # fmt: skip


def _queue_or_404(request, queue_id) -> ClusterQueue:
    queue = quota_selectors.cluster_queue_list(user=request.user).filter(pk=queue_id).first()
    if queue is None:
        raise Http404("No such queue.")
    return queue


def _require_admin(request, tenant_id) -> None:
    if not user_is_tenant_admin(request.user, tenant_id):
        raise PermissionDenied("Only the tenant's admins manage queues.")


def _check_and_write(form: QueueForm, serializer, write) -> bool:
    if not serializer.is_valid():
        form.add_service_errors(serializer.errors)
        return False
    try:
        write(serializer.validated_data)
    except ServiceError as error:  # its field errors beside the fields
        form.add_service_errors(error.errors or {"__all__": [error.detail]})
        return False
    return True


def queue_create(request, clusters) -> tuple[QueueForm, int]:
    """The quota page's form to add a queue: (the form, the status to answer: 201 once created, in `form.created`)."""
    form = QueueForm(request.POST if request.method == "POST" else None, clusters=clusters)
    if request.method != "POST":
        return form, 200
    if not clusters:
        raise PermissionDenied("Only a tenant's admins manage queues.")
    if form.is_valid():
        serializer = ClusterQueueSerializer(data=form.payload(), context={"request": request})

        def write(data):
            data = dict(data)
            cluster = data.pop("cluster")
            _require_admin(request, cluster.tenant_id)
            form.created = services.cluster_queue_create(user=request.user, cluster=cluster, data=data)

        if _check_and_write(form, serializer, write):
            return form, 201
    return form, 400


@login_required
@require_http_methods(["GET", "POST"])
def queue_edit_page(request, queue_id):
    queue = _queue_or_404(request, queue_id)
    can_write = user_is_tenant_admin(request.user, queue.tenant_id)
    form = QueueForm(request.POST if request.method == "POST" else None, clusters=[queue.cluster], queue=queue)
    status = 200
    if request.method == "POST":
        _require_admin(request, queue.tenant_id)
        if form.is_valid():
            serializer = ClusterQueueSerializer(queue, data=form.payload(), partial=True, context={"request": request})
            write = lambda data: services.cluster_queue_update(user=request.user, queue=queue, data=dict(data))  # noqa: E731
            if _check_and_write(form, serializer, write):
                messages.success(request, f"Queue {queue.name} saved.")
                return redirect("console:quota-queue", queue_id=queue.pk)
        status = 400
    return render(request, "console/quotas/edit.html", {"queue": queue, "form": form, "can_write": can_write},
                  status=status)  # fmt: skip


@login_required
@require_POST
def queue_delete_page(request, queue_id):
    queue = _queue_or_404(request, queue_id)
    _require_admin(request, queue.tenant_id)
    try:
        services.cluster_queue_delete(user=request.user, queue=queue)
    except Conflict as error:
        messages.error(request, f"Queue {queue.name} was not deleted: {error.detail}")
        return redirect("console:quota-queue", queue_id=queue.pk)
    messages.success(request, f"Queue {queue.name} deleted.")
    return redirect("console:quotas")


class LocalQueueForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits and '-'.")
    project = forms.ChoiceField(required=False, choices=(), help_text="Empty: every job of the tenant on the cluster.")

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "The whole tenant")] + [(str(p.pk), p.name) for p in projects]


def local_queue_create(request, queue: ClusterQueue) -> tuple[LocalQueueForm, int]:
    """The queue page's form to send the tenant's (or one project's) jobs on the queue's cluster to it: (the form,
    the status to answer: 201 once created)."""
    projects = Project.objects.filter(tenant_id=queue.tenant_id).order_by("name")
    form = LocalQueueForm(request.POST if request.method == "POST" else None, projects=projects, prefix="local")
    if request.method != "POST":
        return form, 200
    _require_admin(request, queue.tenant_id)
    if form.is_valid():
        data = {"name": form.cleaned_data["name"], "cluster_queue_id": str(queue.pk),
                "project_id": form.cleaned_data["project"] or None}  # fmt: skip
        serializer = LocalQueueSerializer(data=data, context={"request": request})

        def write(validated):
            services.local_queue_create(
                user=request.user, cluster_queue=queue, name=validated["name"], project=validated.get("project")
            )

        if _save(form, serializer, write):
            return form, 201
    return form, 400


@login_required
@require_POST
def local_queue_delete_page(request, queue_id, local_id):
    queue = _queue_or_404(request, queue_id)
    _require_admin(request, queue.tenant_id)
    local = quota_selectors.local_queue_list(user=request.user).filter(pk=local_id, cluster_queue=queue).first()
    if local is None:
        raise Http404("No such local queue.")
    services.local_queue_delete(user=request.user, local_queue=local)
    messages.success(request, f"Local queue {local.name} deleted.")
    return redirect("console:quota-queue", queue_id=queue.pk)
