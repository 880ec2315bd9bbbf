"""Deploy a template from the command line, optionally waiting with live progress until RUNNING or FAILED."""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError

from autoscaling.policy import parse_range
from autoscaling.services import policy_set
from core.exceptions import ServiceError
from deployments import reconciler, selectors, services
from deployments.models import UseCaseDeployment
from deployments.state import ComponentStatus, DeploymentStatus
from jobs.models import Cluster
from jobs.validation import MAX_REPLICAS
from templates_app.parameters import parameters_schema
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


def _json_or_text(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_params(pairs: list[str], schema: dict) -> dict:
    """`k=v` pairs; values typed by the template's parameter schema (JSON for non-strings). A list parameter also
    takes comma-separated values (`tools_enabled=calculator,http_request`), as the console's list inputs do."""
    properties = schema.get("properties", {})
    parameters = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandError(f"--param takes key=value, got {pair!r}.")
        key, raw = pair.split("=", 1)
        kind = properties.get(key, {}).get("type")
        if kind == "string":
            parameters[key] = raw
        elif kind == "array" and not raw.lstrip().startswith("["):
            item_type = properties[key].get("items", {}).get("type")
            items = [item.strip() for item in raw.split(",") if item.strip()]
            parameters[key] = items if item_type == "string" else [_json_or_text(item) for item in items]
        else:
            parameters[key] = _json_or_text(raw)
    return parameters


def gpus_text(gpus: dict) -> str:
    """{"A100-80GB": 2, "L4": -1} as "+2 x A100-80GB, -1 x L4" (with a multiplication sign)."""
    return ", ".join(f"{count:+d} \u00d7 {gpu_type}" for gpu_type, count in sorted(gpus.items())) or "no change"


def value_text(value) -> str:
    """A parameter or resource value as it would be typed: JSON, strings unquoted, nothing as a dash."""
    if value is None:
        return "\u2014"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def money_text(value) -> str:
    return f"${Decimal(str(value)):,.2f}/h"


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class Command(BaseCommand):
    help = (
        "Deploy TEMPLATE onto a cluster (deploy simple-rag-v1 --project default --cluster sim-local --param k=v), "
        "or change a deployment: --update ID --param k=v, --scale ID component=replicas, --rollback ID N. "
        "Changes print their plan and ask for confirmation (--yes to skip)."
    )

    def add_arguments(self, parser):
        parser.add_argument("template", nargs="?")
        parser.add_argument("--project", help="Project name or id.")
        parser.add_argument("--cluster", help="Cluster name or id.")
        parser.add_argument("--update", metavar="ID", help="Update a deployment's parameters (--param k=v).")
        parser.add_argument("--template-version", help="With --update: upgrade to this template version.")
        parser.add_argument("--scale", nargs="+", metavar="ARG", help="ID component=replicas [component=replicas]")
        parser.add_argument("--rollback", nargs=2, metavar=("ID", "REVISION"))
        parser.add_argument("--yes", action="store_true", help="Apply a change without asking.")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--autoscale",
            action="append",
            default=[],
            metavar="COMPONENT=MIN:MAX",
            help="Autoscale a component between MIN and MAX replicas (MIN 0: to zero when idle), e.g. llm=1:4.",
        )
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
        if opts["update"] or opts["scale"] or opts["rollback"]:
            self.change(user, opts)
            return
        if not (opts["template"] and opts["project"] and opts["cluster"]):
            raise CommandError("Give TEMPLATE --project P --cluster C, or one of --update, --scale, --rollback.")
        try:
            template = template_get_for_user(user=user, template_id=opts["template"])
        except ServiceError as exc:
            raise CommandError(f"Template {opts['template']!r}: {exc.detail}") from None
        project = _by_name_or_id(Project.objects.all(), opts["project"], "Project")
        cluster = _by_name_or_id(Cluster.objects.filter(tenant_id=project.tenant_id), opts["cluster"], "Cluster")
        parameters = parse_params(opts["param"], parameters_schema(template))
        ranges = self._autoscale_ranges(opts["autoscale"], template)
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
            self._errors(exc)
        self.stdout.write(f"Deployment {deployment.pk} ({deployment.name}) created.")
        if ranges:
            policy_set(user=user, deployment=deployment, components=ranges)
            spans = ", ".join(f"{key} {r['min_replicas']}-{r['max_replicas']}" for key, r in ranges.items())
            self.stdout.write(f"Autoscaling: {spans} replicas.")
        if not (opts["wait"] or opts["inline"]):
            return
        status = self.watch(deployment, timeout=opts["timeout"], inline=opts["inline"])
        if status != DeploymentStatus.RUNNING:
            sys.exit(1)

    @staticmethod
    def _autoscale_ranges(values: list[str], template) -> dict:
        """--autoscale llm=1:4 → {"llm": {"min_replicas": 1, "max_replicas": 4}}, checked before anything is made."""
        keys = [component["id"] for component in template.components]
        ranges = {}
        for value in values:
            try:
                key, low, high = parse_range(value, max_replicas=MAX_REPLICAS)
            except ValueError as exc:
                raise CommandError(f"--autoscale {exc}") from None
            if key not in keys:
                raise CommandError(f"--autoscale {value!r}: the template has no component {key!r} ({', '.join(keys)}).")
            ranges[key] = {"min_replicas": low, "max_replicas": high}
        return ranges

    def watch(self, deployment: UseCaseDeployment, *, timeout: float, inline: bool) -> str:
        """Print a line per component change and a progress bar until the deployment settles.

        The bar counts the serving components; during a roll-out a replacement (candidate) has its own line,
        printed when its status changes, and the bar says how many new parts run.
        """
        seen: dict = {}  # row id -> what was last printed for it
        last_bar = None
        deadline = time.monotonic() + timeout
        while True:
            if inline:
                reconciler.deployment_reconcile(deployment_id=deployment.pk)
            deployment.refresh_from_db()
            rows = selectors.deployment_components(deployment=deployment)
            serving = [row for row in rows if not row.is_candidate]
            candidates = [row for row in rows if row.is_candidate]
            for row in rows:
                # A serving row is reprinted when its message changes (queue position, retry); a candidate only
                # when its status does, so a roll-out does not repeat the same parts every poll.
                state = (row.status,) if row.is_candidate else (row.status, row.status_message)
                if seen.get(row.pk) != state:
                    seen[row.pk] = state
                    label = f"{row.key} [candidate r{row.revision}]" if row.is_candidate else row.key
                    self.stdout.write(f"  {label:<28} {row.status:<10} {row.status_message}")
            ready = sum(1 for row in serving if row.status in ComponentStatus.READY)
            bar = f"{progress_bar(ready, len(serving))} {deployment.status}"
            if candidates:
                new = sum(1 for row in candidates if row.status in ComponentStatus.READY)
                revision = candidates[0].revision
                bar += f" (revision {revision}: {new}/{len(candidates)} new parts running)"
            if bar != last_bar:
                last_bar = bar
                self.stdout.write(bar)
            if deployment.status in {DeploymentStatus.RUNNING, DeploymentStatus.FAILED, DeploymentStatus.DELETED}:
                style = self.style.SUCCESS if deployment.status == DeploymentStatus.RUNNING else self.style.ERROR
                self.stdout.write(style(f"{deployment.status}: {deployment.status_message}"))
                return deployment.status
            if time.monotonic() > deadline:
                self.stdout.write(self.style.ERROR(f"Timed out while {deployment.status}."))
                return deployment.status
            time.sleep(0.3 if not inline else 0.05)

    # --- changes to a deployment ---------------------------------------------------------------------------------

    def change(self, user, opts) -> None:
        if opts["update"]:
            deployment_id, change = opts["update"], {}
            deployment = self._deployment(deployment_id)
            if opts["param"]:
                change["parameters"] = parse_params(opts["param"], parameters_schema(deployment.template))
            if opts["template_version"]:
                change["template_version"] = opts["template_version"]
            if not change:
                raise CommandError("--update needs --param k=v and/or --template-version.")
        elif opts["scale"]:
            deployment_id, *pairs = opts["scale"]
            deployment = self._deployment(deployment_id)
            change = {"scale": {}}
            for pair in pairs:
                key, _, replicas = pair.partition("=")
                if not replicas.isdigit():
                    raise CommandError(f"--scale takes component=replicas, got {pair!r}.")
                change["scale"][key] = {"replicas": int(replicas)}
            if not pairs:
                raise CommandError("--scale needs component=replicas.")
        else:
            deployment_id, number = opts["rollback"]
            deployment = self._deployment(deployment_id)
            if not number.isdigit():
                raise CommandError("--rollback takes ID REVISION (a number).")
            change = {"rollback_to": int(number)}
        try:
            plan = services.deployment_change_plan(user=user, deployment=deployment, change=change)
        except ServiceError as exc:
            self._errors(exc)
        self.print_plan(plan)
        if plan["is_noop"]:
            self.stdout.write("Nothing would change.")
            return
        if not opts["yes"] and not self.confirm("Apply this change? [y/N] "):
            self.stdout.write("Nothing changed.")
            return
        try:
            if "rollback_to" in change:
                revision = services.deployment_rollback(
                    user=user, deployment=deployment, revision=change["rollback_to"]
                )
            elif "scale" in change:
                revision = services.deployment_scale(user=user, deployment=deployment, scale=change["scale"])
            else:
                revision = services.deployment_update(user=user, deployment=deployment, **change)
        except ServiceError as exc:
            self._errors(exc)
        self.stdout.write(f"Revision {revision.number} ({revision.kind}) is rolling out.")
        if opts["wait"] or opts["inline"]:
            status = self.watch(deployment, timeout=opts["timeout"], inline=opts["inline"])
            revision.refresh_from_db()
            detail = "" if revision.status == "applied" else f" {revision.status_message}"
            self.stdout.write(f"Revision {revision.number}: {revision.status}.{detail}")
            if status != DeploymentStatus.RUNNING or revision.status != "applied":
                sys.exit(1)

    def confirm(self, question: str) -> bool:
        """Ask on the terminal; with no terminal to ask on (a script, CI, a pipe) refuse rather than guess."""
        if not sys.stdin or not sys.stdin.isatty():
            raise CommandError("This change needs a confirmation and there is no terminal to ask on: use --yes.")
        try:
            return input(question).strip().lower() in {"y", "yes"}
        except EOFError:
            raise CommandError(
                "No answer (end of input): nothing changed. Use --yes to apply without asking."
            ) from None

    def _deployment(self, value: str) -> UseCaseDeployment:
        try:
            return UseCaseDeployment.objects.select_related("template", "cluster").get(pk=value)
        except (UseCaseDeployment.DoesNotExist, ValueError, DjangoValidationError):
            raise CommandError(f"No deployment {value!r}.") from None

    def _errors(self, exc: ServiceError):
        for field, messages in (exc.errors or {"": [exc.detail]}).items():
            self.stderr.write(f"{field}: {'; '.join(messages)}" if field else "; ".join(messages))
        raise CommandError(exc.detail)

    def print_plan(self, plan: dict) -> None:
        self.stdout.write(f"Plan ({plan['kind']}, from revision {plan['from_revision']}):")
        for component in plan["components"]:
            reasons = f" — {'; '.join(component['reasons'])}" if component["reasons"] else ""
            self.stdout.write(f"  {component['key']:<20} {component['action']:<10}{reasons}")
            for change in component["diff"]:
                self.stdout.write(
                    f"      {change['path']}: {value_text(change['old'])} \u2192 {value_text(change['new'])}"
                )
        cost = plan["hourly_cost"]
        self.stdout.write(
            f"  GPUs: {gpus_text(plan['gpus']['delta'])}; hourly cost: {money_text(cost['before'])} \u2192 "
            f"{money_text(cost['after'])}"
        )
        capacity = plan["capacity"]
        if capacity["new_parts"]:
            fits = "fits now" if capacity["fits_now"] else f"queued, predicted start {capacity['predicted_start']}"
            self.stdout.write(f"  New parts {', '.join(capacity['new_parts'])}: {fits}")
