from django.core.management.base import BaseCommand, CommandError

from templates_app.seeding import seed_templates


class Command(BaseCommand):
    help = (
        "Sync system components and templates from YAML (system_templates/): create new, update those whose "
        "version changed, skip unchanged. Bad files are reported as `path: field.path: reason`; exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Validate every file and write nothing.")
        parser.add_argument("--prune", action="store_true", help="Deactivate system rows whose file is gone.")
        parser.add_argument("--path", default=None, help="Directory of the same layout (default system_templates/).")

    def handle(self, *args, check=False, prune=False, path=None, **options):
        result = seed_templates(path=path, prune=prune, check=check)
        prefix = "check: " if check else ""
        self.stdout.write(prefix + result.components.summary("components"))
        self.stdout.write(prefix + result.templates.summary("templates"))
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        for error in result.errors:
            self.stderr.write(error)
        if result.errors:
            raise CommandError(f"{len(result.errors)} problem(s) in the YAML files")
