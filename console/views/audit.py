"""The audit trail page: tenant admins see their tenants' events, superusers all; filters and a CSV link."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render

from audit.filters import AuditEventFilterSet
from audit.models import AuditEvent
from audit.selectors import audit_can_read, audit_event_list

PAGE_SIZE = 50


@login_required
def audit_list_page(request):
    """Who changed what, when and from where, newest first; the same filters as GET /api/v1/audit."""
    if not audit_can_read(request.user):
        raise PermissionDenied("Only tenant admins and superusers read the audit trail.")
    filterset = AuditEventFilterSet(request.GET, queryset=audit_event_list(user=request.user))
    errors = None if filterset.is_valid() else filterset.errors
    queryset = filterset.qs if errors is None else AuditEvent.objects.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/audit/list.html",
        {"page": page, "errors": errors, "filters": request.GET, "query": query.urlencode()},
    )
