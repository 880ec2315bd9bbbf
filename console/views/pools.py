"""The warm pools page: each pool of the caller's clusters with how it is sized, the standbys it wants now and what
they cost per hour, and the form that creates or resizes the pool of a cluster's GPU type."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from autoscaling import pools, selectors
from autoscaling.models import WarmPool
from core.exceptions import ServiceError
from jobs.selectors import cluster_list
from tenancy.selectors import project_list, user_can_write, user_tenant_ids

POOLS_SHOWN = 100


class WarmPoolForm(forms.Form):
    """The fields of `POST /api/v1/warm-pools`; the service checks them against the cluster (field errors)."""

    cluster = forms.ModelChoiceField(queryset=None)
    project = forms.ModelChoiceField(queryset=None, help_text="Whose bill the standby replicas are on.")
    gpu_type = forms.CharField(max_length=50, label="GPU type")
    gpu_count = forms.IntegerField(min_value=1, max_value=8, initial=1, label="GPUs per standby")
    sizing = forms.ChoiceField(choices=WarmPool.Sizing.choices, initial=WarmPool.Sizing.WAKES_TOGETHER)
    size = forms.IntegerField(
        min_value=0, max_value=pools.MAX_POOL_SIZE, initial=4, help_text="Fixed: the standbys kept; sized: at most."
    )
    min_size = forms.IntegerField(
        min_value=0, initial=1, label="At least", help_text="Sized: standbys at least while any is at zero."
    )
    per_zero = forms.DecimalField(
        required=False, max_digits=3, decimal_places=2, label="Per component at zero", help_text="0.01-1."
    )
    miss = forms.DecimalField(
        max_digits=4,
        decimal_places=3,
        initial=Decimal("0.010"),
        label="Chance a wake finds none",
        help_text="By the wakes expected together (yesterday's load in this hour, the cluster's standby start).",
    )

    def __init__(self, *args, user, **kwargs):
        """Only the clusters and projects of the tenants the user writes in are offered."""
        super().__init__(*args, **kwargs)
        writes = [tenant for tenant in user_tenant_ids(user) if user_can_write(user, tenant)]
        clusters = cluster_list(user=user) if user.is_superuser else cluster_list(user=user).filter(tenant__in=writes)
        projects = project_list(user=user) if user.is_superuser else project_list(user=user).filter(tenant__in=writes)
        self.fields["cluster"].queryset = clusters.order_by("name")
        self.fields["project"].queryset = projects.order_by("name")
        self.can_write = user.is_superuser or bool(writes)


def _errors_on(form: WarmPoolForm, error: ServiceError) -> None:
    names = {"cluster_id": "cluster", "project_id": "project"}
    for path, reasons in (error.errors or {"non_field_errors": [error.detail]}).items():
        name = names.get(path, path)
        form.add_error(name if name in form.fields else None, reasons)


@login_required
@require_http_methods(["GET", "POST"])
def warm_pool_list_page(request):
    """Warm pools of the caller's tenants; a writer creates or resizes one (the pool of a cluster's GPU type)."""
    form = WarmPoolForm(request.POST if request.method == "POST" else None, user=request.user)
    status = 200
    if request.method == "POST" and not form.can_write:
        raise PermissionDenied("Your role in these tenants is read-only.")
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                settings = {name: data[name] for name in pools.POOL_SETTINGS}
                pool = pools.pool_set(user=request.user, cluster=data["cluster"], project=data["project"], **settings)
            except ServiceError as error:
                status = error.status_code
                _errors_on(form, error)
            else:
                messages.success(request, f"Pool of {pool.gpu_type} on {pool.cluster.name} saved.")
                return redirect("console:warm-pools")
        else:
            status = 400
    page = list(selectors.pool_list(user=request.user).order_by("cluster__name", "gpu_type")[:POOLS_SHOWN])
    standby, wanted = selectors.pools_standby(page), pools.pools_wanted(page)
    rows = [{"pool": pool, "wanted": wanted[pool.pk], "standby": standby[pool.pk]} for pool in page]
    return render(
        request, "console/pools/list.html", {"rows": rows, "form": form, "can_write": form.can_write}, status=status
    )


@login_required
@require_POST
def warm_pool_delete_page(request, pool_id):
    """Delete a pool of the caller's tenants and stop its standbys (a read-only role: 403; another tenant's: 404)."""
    pool = selectors.pool_list(user=request.user).filter(pk=pool_id).first()
    if pool is None:
        raise Http404("No such warm pool.")
    if not (request.user.is_superuser or user_can_write(request.user, pool.tenant_id)):
        raise PermissionDenied("Your role in this tenant is read-only.")
    stopped = pools.pool_delete(user=request.user, pool=pool)
    messages.success(request, f"Pool of {pool.gpu_type} on {pool.cluster.name} deleted; {stopped} standby(s) stopped.")
    return redirect("console:warm-pools")
