"""An invoice as a PDF (reportlab's platypus): header, a table of its lines, adjustments with who and why, totals."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice, InvoiceLine

HEADER = ["Project", "Deployment", "Use case", "Template", "Resource", "Quantity", "Unit", "Amount"]
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eceef1")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde6")),
        ("ALIGN", (5, 0), (5, -1), "RIGHT"),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def invoice_pdf(*, invoice: Invoice) -> bytes:
    """The invoice as PDF bytes: every line as on the CSV, then the usage total, adjustments and the total."""
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    title = invoice.number or f"Draft invoice {invoice.month:%Y-%m}"
    document = SimpleDocTemplate(
        out, pagesize=landscape(A4), title=title, author="UseCase Foundry", leftMargin=12 * mm, rightMargin=12 * mm
    )
    status = "Final" if invoice.status == Invoice.Status.FINAL else "Draft: it follows metering until the month closes"
    story = [
        Paragraph(title, styles["Title"]),
        Paragraph(
            f"{invoice.tenant.name} · {invoice.month:%B %Y} (UTC) · {invoice.currency} · {status}", styles["Normal"]
        ),
    ]
    if invoice.checksum:
        story.append(Paragraph(f"Checksum (sha256): {invoice.checksum}", styles["Normal"]))
    story.append(Spacer(1, 6 * mm))
    lines = list(invoice.lines.select_related("project", "created_by").order_by("kind", "project__name", "pk"))
    usage = [line for line in lines if line.kind == InvoiceLine.Kind.USAGE]
    rows = [HEADER] + [
        [
            line.project.name if line.project else "",
            line.deployment_name,
            line.usecase,
            line.template,
            line.resource,
            f"{line.quantity:,.2f}",
            line.unit,
            f"{line.amount:,.2f}",
        ]
        for line in usage
    ]
    rows.append(["", "", "", "", "", "", "Usage total", f"{invoice.usage_total:,.2f}"])
    story.append(Table(rows, repeatRows=1, style=GRID))
    adjustments = [line for line in lines if line.kind == InvoiceLine.Kind.ADJUSTMENT]
    if adjustments:
        story += [Spacer(1, 4 * mm), Paragraph("Credits and adjustments", styles["Heading3"])]
        rows = [["Project", "Reason", "By", "Amount"]] + [
            [
                line.project.name if line.project else "",
                Paragraph(line.reason, styles["BodyText"]),
                line.created_by.get_username() if line.created_by else "",
                f"{line.amount:,.2f}",
            ]
            for line in adjustments
        ]
        story.append(Table(rows, colWidths=[50 * mm, 140 * mm, 40 * mm, 30 * mm], style=GRID))
    story += [Spacer(1, 4 * mm), Paragraph(f"<b>Total {invoice.currency} {invoice.total:,.2f}</b>", styles["Heading2"])]
    document.build(story)
    return out.getvalue()
