from django.core.management.base import BaseCommand

from core.bootstrap import run_bootstrap


class Command(BaseCommand):
    help = "Migrate and load the shipped data (demo tenant, catalog, templates, simulated cluster). Idempotent."

    def handle(self, *args, **options):
        facts = run_bootstrap(stdout=self.stdout)
        for key, value in facts.items():
            self.stdout.write(f"{key}: {value}")
