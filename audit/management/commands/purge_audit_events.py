from django.core.management.base import BaseCommand

from audit.services import audit_purge


class Command(BaseCommand):
    help = "Delete audit events older than AUDIT_RETENTION_DAYS (or --days); beat runs this daily."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Retention in days (default: the setting).")

    def handle(self, *args, days: int | None = None, **options):
        self.stdout.write(f"{audit_purge(retention_days=days)} audit event(s) purged")
