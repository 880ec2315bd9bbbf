from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.timesince import timesince

from deployments.models import UseCaseDeployment
from deployments.state import ComponentStatus


def cut(text: str, width: int) -> str:
    """The text in `width` characters, ending in an ellipsis when it had to be shortened."""
    return text if len(text) <= width else text[: width - 1] + "\u2026"


class Command(BaseCommand):
    help = "List deployments: id, name, template, status, components ready, cluster, age."

    def add_arguments(self, parser):
        parser.add_argument("--status", action="append", default=[], help="Filter by status (repeatable).")
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args, status, limit, **opts):
        queryset = UseCaseDeployment.objects.select_related("template", "cluster").prefetch_related("components")
        if status:
            queryset = queryset.filter(status__in=[s.upper() for s in status])
        now = timezone.now()
        self.stdout.write(f"{'ID':<36}  {'NAME':<28} {'TEMPLATE':<20} {'STATUS':<10} {'READY':<6} {'CLUSTER':<14} AGE")
        for deployment in queryset[:limit]:
            # The serving parts: a replacement starting beside one during a roll-out is not another component.
            rows = [row for row in deployment.components.all() if row.retired_at is None and not row.is_candidate]
            ready = sum(1 for row in rows if row.status in ComponentStatus.READY)
            self.stdout.write(
                f"{deployment.pk!s:<36}  {cut(deployment.name, 28):<28} "
                f"{cut(deployment.plan.get('template_id', ''), 20):<20} "
                f"{deployment.status:<10} {f'{ready}/{len(rows)}':<6} {cut(deployment.cluster.name, 14):<14} "
                f"{timesince(deployment.created_at, now)}"
            )
