from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from deployments import selectors as deployment_selectors
from templates_app.selectors import template_list
from tenancy.selectors import user_membership_list


@login_required
def home(request):
    """Start page: the latest deployments, how many are in each state, and the way to the catalogue."""
    deployments = deployment_selectors.deployment_list(user=request.user)
    counts = dict(deployments.order_by().values_list("status").annotate(n=Count("pk")))
    return render(
        request,
        "console/home.html",
        {
            "recent": deployments[:5],
            "status_counts": sorted(counts.items()),
            "template_count": template_list(user=request.user).filter(is_active=True).count(),
            "memberships": user_membership_list(user=request.user),
        },
    )
