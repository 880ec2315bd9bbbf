from django.core.management.base import BaseCommand

from core.crypto import encrypted_fields, rotate_encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS. Run it after putting a new "
        "key first; then the old keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count the values without writing them.")

    def handle(self, *args, dry_run: bool = False, **options):
        if dry_run:
            for model, field in encrypted_fields():
                count = model._default_manager.exclude(**{f"{field.attname}__isnull": True}).count()
                self.stdout.write(f"{model._meta.label}.{field.name}: {count} value(s) would be re-encrypted")
            return
        for label, count in rotate_encrypted_fields().items():
            self.stdout.write(f"{label}: {count} value(s) re-encrypted")
