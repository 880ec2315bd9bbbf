from django.core.management.base import BaseCommand

from core.crypto import generate_key


class Command(BaseCommand):
    help = "Print a new random key for FIELD_ENCRYPTION_KEYS (put it first to encrypt with it)."

    def handle(self, *args, **options):
        self.stdout.write(generate_key())
