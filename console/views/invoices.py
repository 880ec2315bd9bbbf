"""Invoices in the console: the list per month, one invoice with its lines, downloads, and the admins' finalise and
credit (the billing services; every member reads, as the API)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.invoices import invoice_adjustment_add, invoice_finalise
from billing.models import Invoice
from billing.selectors import invoice_can_adjust, invoice_list
from core.exceptions import ServiceError
from tenancy.models import Project

PAGE_SIZE = 50


class MonthFilterForm(forms.Form):
    month = forms.DateField(required=False, input_formats=["%Y-%m"], help_text="YYYY-MM", label="Month")


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, help_text="In USD, whole cents; negative for a credit (-12.50)."
    )
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="Why, for the record."
    )
    project_id = forms.ModelChoiceField(queryset=Project.objects.none(), required=False, label="Project")

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project_id"].queryset = Project.objects.filter(tenant_id=invoice.tenant_id).order_by("name")


def form_add_service_errors(form: forms.Form, error: ServiceError) -> None:
    """A service's field errors beside the form's fields (the rest above the form)."""
    for field, reasons in error.errors.items():
        form.add_error(field if field in form.fields else None, reasons)
    if not error.errors:
        form.add_error(None, error.detail)


@login_required
def invoice_list_page(request):
    """The caller's tenants' invoices, newest month first; filter by month."""
    filters = MonthFilterForm(request.GET or None)
    invoices = invoice_list(user=request.user).order_by("-month", "tenant__name")
    status = 200
    if filters.is_bound and filters.is_valid() and filters.cleaned_data["month"]:
        invoices = invoices.filter(month=filters.cleaned_data["month"].replace(day=1))
    elif filters.is_bound and not filters.is_valid():
        invoices, status = invoices.none(), 400
    page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "filters": filters, "query": query.urlencode(), "section": "costs"}
    return render(request, "console/billing/invoices.html", context, status=status)


def _invoice_or_404(request, pk) -> Invoice:
    invoice = invoice_list(user=request.user).filter(pk=pk).first()
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


def _detail(request, invoice: Invoice, *, form: AdjustmentForm | None = None, status: int = 200):
    lines = invoice.lines.select_related("project", "created_by").order_by("kind", "project__name", "pk")
    can_adjust = invoice_can_adjust(user=request.user, invoice=invoice)
    context = {
        "invoice": invoice,
        "usage_lines": [line for line in lines if line.kind == line.Kind.USAGE],
        "adjustments": [line for line in lines if line.kind == line.Kind.ADJUSTMENT],
        "can_adjust": can_adjust and invoice.status == Invoice.Status.DRAFT,
        "form": form or AdjustmentForm(invoice=invoice),
        "section": "costs",
    }
    return render(request, "console/billing/invoice.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def invoice_detail_page(request, pk):
    """One invoice with its lines and downloads; POST (admins, drafts) adds a credit or charge with its reason."""
    invoice = _invoice_or_404(request, pk)
    posted = request.method == "POST"
    form = AdjustmentForm(request.POST if posted else None, invoice=invoice)
    if not (posted and form.is_valid()):
        return _detail(request, invoice, form=form, status=400 if posted else 200)
    data = form.cleaned_data
    try:
        invoice_adjustment_add(
            user=request.user, invoice=invoice, amount=data["amount"], reason=data["reason"], project=data["project_id"]
        )
    except ServiceError as error:
        form_add_service_errors(form, error)
        return _detail(request, invoice, form=form, status=error.status_code)
    messages.success(request, "Adjustment added.")
    return redirect("console:invoice-detail", pk=invoice.pk)


@login_required
@require_POST
def invoice_finalise_page(request, pk):
    """Admins finalise a draft whose month is over (numbered, sealed, immutable from then on)."""
    invoice = _invoice_or_404(request, pk)
    try:
        invoice = invoice_finalise(invoice=invoice, user=request.user)
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Invoice {invoice.number} is final.")
    return redirect("console:invoice-detail", pk=invoice.pk)
