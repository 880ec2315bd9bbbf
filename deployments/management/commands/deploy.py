"""Deploy a template from the command line, optionally waiting with live progress until RUNNING or FAILED."""

from __future__ import annotations

import json
import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ServiceError
from deployments import reconciler, services
from deployments.models import UseCaseDeployment
from deployments.state import ComponentStatus, DeploymentStatus
from jobs.models import Cluster
from templates_app.resolver import parameters_schema
from templates_app.selectors import template_get_for_user
from tenancy.models import Project


def _by_name_or_id(queryset, value: str, what: str):
    matches = [obj for obj in queryset.filter(name=value)]
    if not matches:
        try:
            matches = list(queryset.filter(pk=value))
        except Exception:
            matches = []
    if len(matches) != 1:
        raise CommandError(f"{what} {value!r}: {'not found' if not matches else 'ambiguous, use its id'}.")
    return matches[0]


def parse_params(pairs: list[str], schema: dict) -> dict:
    """`k=v` pairs; values typed by the template's parameter schema (JSON for non-strings)."""
    properties = schema.get("properties", {})
    parameters = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandError(f"--param takes key=value, got {pair!r}.")
        key, raw = pair.split("=", 1)
        if properties.get(key, {}).get("type") == "string":
            parameters[key] = raw
            continue
        try:
            parameters[key] = json.loads(raw)
        except json.JSONDecodeError:
            parameters[key] = raw
    return parameters


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class Command(BaseCommand):
    help = "Deploy TEMPLATE onto a cluster: deploy simple-rag-v1 --project default --cluster sim-local --param k=v"

    def add_arguments(self, parser):
        parser.add_argument("template")
        parser.add_argument("--project", required=True, help="Project name or id.")
        parser.add_argument("--cluster", required=True, help="Cluster name or id.")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--name", default="")
        parser.add_argument("--user", default="admin", help="Who deploys (a username). Default: admin.")
        parser.add_argument("--wait", action="store_true", help="Show live progress until RUNNING or FAILED.")
        parser.add_argument("--timeout", type=float, default=600.0)
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Run the reconcile passes in this process (no Celery worker needed); implies --wait.",
        )

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"No user {opts['user']!r}.")
        try:
            template = template_get_for_user(user=user, template_id=opts["template"])
        except ServiceError as exc:
            raise CommandError(f"Template {opts['template']!r}: {exc.detail}") from None
        project = _by_name_or_id(Project.objects.all(), opts["project"], "Project")
        cluster = _by_name_or_id(Cluster.objects.filter(tenant_id=project.tenant_id), opts["cluster"], "Cluster")
        parameters = parse_params(opts["param"], parameters_schema(template))
        try:
            deployment, _ = services.deployment_create(
                user=user,
                template=template,
                project=project,
                cluster=cluster,
                parameters=parameters,
                name=opts["name"],
            )
        except ServiceError as exc:
            for field, messages in (exc.errors or {"": [exc.detail]}).items():
                self.stderr.write(f"{field}: {'; '.join(messages)}" if field else "; ".join(messages))
            raise CommandError("Deployment refused.") from None
        self.stdout.write(f"Deployment {deployment.pk} ({deployment.name}) created.")
        if not (opts["wait"] or opts["inline"]):
            return
        status = self.watch(deployment, timeout=opts["timeout"], inline=opts["inline"])
        if status != DeploymentStatus.RUNNING:
            sys.exit(1)

    def watch(self, deployment: UseCaseDeployment, *, timeout: float, inline: bool) -> str:
        """Print a line per component change and a progress bar until the deployment settles."""
        seen: dict[str, tuple[str, str]] = {}
        deadline = time.monotonic() + timeout
        while True:
            if inline:
                reconciler.deployment_reconcile(deployment_id=deployment.pk)
            deployment.refresh_from_db()
            rows = list(deployment.components.filter(retired_at__isnull=True).order_by("created_at"))
            for row in rows:
                state = (row.status, row.status_message)
                if seen.get(row.key) != state:
                    seen[row.key] = state
                    self.stdout.write(f"  {row.key:<20} {row.status:<10} {row.status_message}")
            ready = sum(1 for row in rows if row.status in ComponentStatus.READY)
            self.stdout.write(f"{progress_bar(ready, len(rows))} {deployment.status}")
            if deployment.status in {DeploymentStatus.RUNNING, DeploymentStatus.FAILED, DeploymentStatus.DELETED}:
                style = self.style.SUCCESS if deployment.status == DeploymentStatus.RUNNING else self.style.ERROR
                self.stdout.write(style(f"{deployment.status}: {deployment.status_message}"))
                return deployment.status
            if time.monotonic() > deadline:
                self.stdout.write(self.style.ERROR(f"Timed out while {deployment.status}."))
                return deployment.status
            time.sleep(0.3 if not inline else 0.05)
