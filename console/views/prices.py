"""Price lists in the console: each cluster's price history (every member reads) and a dated change (its admins)."""

from __future__ import annotations

import json
from datetime import UTC

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from billing.selectors import price_list_list
from billing.services import price_list_create
from console.views.invoices import form_add_service_errors
from core.exceptions import ServiceError
from jobs.models import Cluster
from tenancy.selectors import scope_to_user, user_is_tenant_admin


class PriceChangeForm(forms.Form):
    cluster_id = forms.ModelChoiceField(queryset=Cluster.objects.none(), label="Cluster")
    effective_from = forms.DateTimeField(
        label="Effective from (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="A whole minute, now or later: usage before it keeps the older prices.",
    )
    prices = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='The whole new list: {"gpu_hour": {"H100-80GB": 3.6}, "cpu_hour": 0.036, "memory_gib_hour": 0.0036}',
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        clusters = scope_to_user(Cluster.objects.all(), user).order_by("name")
        admin_of = [c.pk for c in clusters.select_related("tenant") if user_is_tenant_admin(user, c.tenant_id)]
        self.fields["cluster_id"].queryset = Cluster.objects.filter(pk__in=admin_of).order_by("name")

    def clean_effective_from(self):
        value = self.cleaned_data["effective_from"].replace(tzinfo=None).replace(tzinfo=UTC)  # as typed, in UTC
        if value < timezone.now().replace(second=0, microsecond=0):
            raise forms.ValidationError("A price change cannot start in the past: that usage is metered.")
        return value


def _page(request, *, form: PriceChangeForm | None = None, status: int = 200):
    form = form or PriceChangeForm(user=request.user)
    clusters: dict = {}
    for price_list in price_list_list(user=request.user):
        clusters.setdefault(price_list.cluster, []).append(price_list)
    now = timezone.now()
    rows = [
        {
            "cluster": cluster,
            "lists": [
                {"list": item, "prices": json.dumps(item.prices, sort_keys=True), "future": item.effective_from > now}
                for item in lists
            ],
        }
        for cluster, lists in sorted(clusters.items(), key=lambda pair: pair[0].name)
    ]
    can_change = form.is_bound or form.fields["cluster_id"].queryset.exists()  # a refused POST shows why
    context = {"rows": rows, "form": form, "can_change": can_change, "section": "costs"}
    return render(request, "console/billing/price_lists.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def price_list_page(request):
    """The price history of the caller's clusters; POST (the cluster's tenant admins) adds a dated change."""
    if request.method == "GET":
        return _page(request)
    form = PriceChangeForm(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        price_list_create(
            user=request.user, cluster=data["cluster_id"], prices=data["prices"], effective_from=data["effective_from"]
        )
    except ServiceError as error:
        form_add_service_errors(form, error)
        return _page(request, form=form, status=error.status_code)
    when = f"{data['effective_from']:%Y-%m-%d %H:%M}"
    messages.success(request, f"Price change recorded for {data['cluster_id'].name} from {when} UTC.")
    return redirect("console:price-lists")
