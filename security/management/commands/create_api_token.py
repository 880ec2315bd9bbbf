from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ServiceError
from security.models import ApiToken
from security.services import token_create


class Command(BaseCommand):
    help = "Create a named API token for a user and print its key (shown once: it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A name to recognise the token by (unique per user).")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.WRITE)
        parser.add_argument("--expires-in-days", type=int, default=90, help="0: never expires. Default 90.")

    def handle(self, *args, username: str, name: str, scope: str, expires_in_days: int, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            _, key = token_create(
                user=user, owner=user, name=name, scope=scope, expires_in_days=expires_in_days or None
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.detail} {exc.errors or ''}".strip()) from exc
        self.stdout.write(key)
