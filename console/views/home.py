from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone

from deployments import selectors as deployment_selectors
from observability.alerts import WATCHED
from observability.models import Alert
from observability.selectors import alert_list, deployments_slo_status
from templates_app.selectors import template_list
from tenancy.selectors import user_membership_list

SLO_ROWS = 100
FIRING_SHOWN = 10


@login_required
def home(request):
    """Start page: the latest deployments, how many are in each state, the SLO status of every running one, the
    alerts firing, and the way to the catalogue."""
    deployments = deployment_selectors.deployment_list(user=request.user)
    counts = dict(deployments.order_by().values_list("status").annotate(n=Count("pk")))
    watched = list(
        deployments.filter(status__in=WATCHED)
        .select_related(None)
        .prefetch_related(None)
        .order_by("name")[: SLO_ROWS + 1]
    )
    firing = alert_list(user=request.user).filter(state=Alert.State.FIRING)
    return render(
        request,
        "console/home.html",
        {
            "recent": deployments[:5],
            "status_counts": sorted(counts.items()),
            "template_count": template_list(user=request.user).filter(is_active=True).count(),
            "memberships": user_membership_list(user=request.user),
            "slo_rows": deployments_slo_status(deployments=watched[:SLO_ROWS], now=timezone.now()),
            "slo_more": len(watched) > SLO_ROWS,
            "firing": list(firing[:FIRING_SHOWN]),
            "firing_count": firing.count(),
        },
    )
