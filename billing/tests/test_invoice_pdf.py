import datetime as dt
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.invoices import invoice_adjustment_add, invoice_finalise
from billing.tests.test_api import invoice  # noqa: F401  (March 2026: three days of an H100 job, metered)


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.django_db
def test_the_pdf_opens_and_shows_every_line_the_adjustment_and_the_total(
    invoice,  # noqa: F811
    admin_user,
    viewer_client,
    other_client,
    django_assert_max_num_queries,
):
    invoice_adjustment_add(user=admin_user, invoice=invoice, amount=Decimal("-1.25"), reason="Goodwill for the outage")
    invoice = invoice_finalise(invoice=invoice, now=dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC))
    with django_assert_max_num_queries(6):
        response = viewer_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    assert reader.metadata.title == invoice.number
    text = pdf_text(response.content)
    assert invoice.number in text and invoice.checksum in text and "March 2026" in text
    for line in invoice.lines.filter(kind="USAGE"):
        assert line.resource in text and f"{line.amount:,.2f}" in text
    assert "Goodwill for the outage" in text and admin_user.username in text and "-1.25" in text
    assert f"Total USD {invoice.total:,.2f}" in text
    assert other_client.get(f"/api/v1/invoices/{invoice.pk}/pdf").status_code == 404
