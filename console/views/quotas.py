"""Quotas: each ClusterQueue's bars of used / nominal / borrowed per GPU type (SVG drawn here), and a queue's
waiting line with positions, predicted starts and reasons."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from console.views.quota_forms import admin_clusters, local_queue_create, queue_create
from jobs import quota_selectors
from tenancy.selectors import user_is_tenant_admin

BAR_WIDTH = 400


def usage_bars(usage: dict) -> list[dict]:
    """Per GPU type: the bar's geometry over BAR_WIDTH, scaled to the larger of nominal and used."""
    bars = []
    for item in (usage or {}).get("resources", []):
        if item["resource"] in ("cpu", "memory"):
            continue
        scale_to = max(item["nominal"], item["used"], 1)
        within = min(item["used"], item["nominal"])
        bars.append(
            {
                **item,
                "width": BAR_WIDTH,
                "nominal_x": round(item["nominal"] / scale_to * BAR_WIDTH, 2),
                "within_w": round(within / scale_to * BAR_WIDTH, 2),
                "borrowed_x": round(within / scale_to * BAR_WIDTH, 2),
                "borrowed_w": round(item["borrowed"] / scale_to * BAR_WIDTH, 2),
            }
        )
    return bars


@login_required
@require_http_methods(["GET", "POST"])
def quota_list_page(request):
    """The caller's tenants' queues, grouped by cluster and cohort, and (for a tenant's admins) the form to add one."""
    clusters = admin_clusters(request.user)
    form, status = queue_create(request, clusters)
    if status == 201:
        messages.success(request, f"Queue {form.created.name} added.")
        return redirect("console:quota-queue", queue_id=form.created.pk)
    queues = list(quota_selectors.cluster_queue_list(user=request.user).order_by("cluster__name", "cohort", "name"))
    usage = quota_selectors.cluster_queue_usage(queues)
    rows = [{"queue": queue, "usage": usage.get(queue.pk), "bars": usage_bars(usage.get(queue.pk))} for queue in queues]
    context = {"rows": rows, "form": form, "can_write": bool(clusters)}
    return render(request, "console/quotas/list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def quota_queue_page(request, queue_id):
    """One queue (another tenant's is a 404): its usage, its waiting line, the local queues that send jobs to it
    and (for the tenant's admins) the form to add one."""
    queue = quota_selectors.cluster_queue_list(user=request.user).filter(pk=queue_id).first()
    if queue is None:
        raise Http404("No such queue.")
    local_form, status = local_queue_create(request, queue)
    if status == 201:
        messages.success(request, f"Local queue {local_form.cleaned_data['name']} sends jobs to {queue.name}.")
        return redirect("console:quota-queue", queue_id=queue.pk)
    usage = quota_selectors.cluster_queue_usage([queue]).get(queue.pk)
    context = {
        "queue": queue,
        "usage": usage,
        "bars": usage_bars(usage),
        "waiting": quota_selectors.cluster_queue_waiting(queue=queue),
        "local_queues": queue.local_queues.select_related("project"),
        "local_form": local_form,
        "can_write": user_is_tenant_admin(request.user, queue.tenant_id),
    }
    return render(request, "console/quotas/queue.html", context, status=status)
