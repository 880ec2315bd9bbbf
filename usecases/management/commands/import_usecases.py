import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from usecases import services

DEFAULT_FILE = Path(settings.BASE_DIR) / "fixtures" / "usecases.json"


class Command(BaseCommand):
    help = "Upsert use cases from a JSON file (a list or {'usecases': [...]}); all-or-nothing unless --partial."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE), help=f"default: {DEFAULT_FILE}")
        parser.add_argument("--partial", action="store_true", help="import the valid entries, report the others")
        parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")

    def handle(self, *args, file, partial, dry_run, **options):
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        try:
            report = services.usecases_import(data=data, partial=partial, dry_run=dry_run)
        except services.ImportRejected as exc:
            raise CommandError(f"{file}: {exc.detail}\n{json.dumps(exc.report['errors'], indent=2)}") from None
        except services.ValidationError as exc:
            raise CommandError(f"{file}: {exc.errors}") from None
        for error in report["errors"]:
            self.stderr.write(f"skipped #{error['index']} {error['unique_id']!r}: {error['errors']}")
        prefix = "dry run: would have " if dry_run else ""
        self.stdout.write(
            f"{prefix}created {report['created']}, updated {report['updated']}, unchanged {report['unchanged']}, "
            f"invalid {len(report['errors'])} of {report['total']} from {file}"
        )
