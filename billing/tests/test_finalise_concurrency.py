"""Finalisers of the same month at the same moment (the beat's close, the console, the API) number its invoices one
after another, and one invoice is finalised once (PostgreSQL: SQLite serialises every writer anyway)."""

import datetime as dt

import pytest
from django.conf import settings

from billing.invoices import invoice_finalise, invoice_refresh
from billing.models import Invoice
from core.exceptions import Conflict
from jobs.tests.test_concurrency import run_concurrently
from tenancy.tests.factories import TenantFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="row locks between concurrent finalisers: PostgreSQL"),
]

MARCH = dt.date(2026, 3, 1)
AFTER = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)


def test_concurrent_finalisers_give_distinct_numbers_and_finalise_an_invoice_once():
    invoices = [invoice_refresh(tenant=TenantFactory(), month=MARCH) for _ in range(4)]
    targets = [*invoices, invoices[0]]  # the first one twice: a double click, or the close beside the console
    conflicts = []

    def finalise(index: int) -> None:
        try:
            invoice_finalise(invoice=Invoice.objects.get(pk=targets[index].pk), now=AFTER)
        except Conflict as exc:
            conflicts.append(exc)

    assert run_concurrently(len(targets), finalise) == []
    assert len(conflicts) == 1 and "already final" in str(conflicts[0].detail)
    numbers = sorted(Invoice.objects.filter(month=MARCH).values_list("number", flat=True))
    assert numbers == [f"INV-202603-{n:05d}" for n in range(1, 5)]
