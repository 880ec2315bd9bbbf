"""The cost explorer's tokens from narrow rows: each SLO hour gains the tokens and requests of every component, and a
daily row per deployment adds them up; both filled here from the rollups kept (the 90 days of metrics), as collection
writes them, one UTC day at a time."""

from datetime import UTC, timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F, Min, Q, Sum
from django.db.models.functions import Coalesce, Trunc


def fill_token_rows(apps, schema_editor):
    MetricRollup = apps.get_model("observability", "MetricRollup")
    SloHour = apps.get_model("observability", "SloHour")
    TokenDay = apps.get_model("observability", "TokenDay")
    first = MetricRollup.objects.aggregate(first=Min("start"))["first"]
    if first is None:
        return
    day = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = MetricRollup.objects.order_by("-start").values_list("start", flat=True).first()
    llm = Q(is_llm=True)
    slo = ("requests", "errors", "ttft_good", "itl_good", "e2e_good", "tokens", "all_requests")
    while day <= last:
        after = day + timedelta(days=1)
        hours = (
            MetricRollup.objects.filter(start__gte=day, start__lt=after)
            .annotate(hour=Trunc("start", "hour", tzinfo=UTC))
            .values("deployment_id", "hour")
            .annotate(
                # the field's sum before the LLM sum takes its name
                tokens=Sum(F("prompt_tokens") + F("output_tokens")),
                all_requests=Sum("requests"),
                requests=Coalesce(Sum("requests", filter=llm), 0.0),
                errors=Coalesce(Sum("errors", filter=llm), 0.0),
                ttft_good=Sum("ttft_good", filter=llm),
                itl_good=Sum("itl_good", filter=llm),
                e2e_good=Sum("e2e_good", filter=llm),
            )
            .order_by()
        )
        rows = [SloHour(deployment_id=r["deployment_id"], hour=r["hour"], **{n: r[n] for n in slo}) for r in hours]
        SloHour.objects.bulk_create(
            rows, batch_size=1000, update_conflicts=True, unique_fields=["deployment", "hour"], update_fields=slo
        )
        sums = (
            SloHour.objects.filter(hour__gte=day, hour__lt=after)
            .values("deployment_id")
            .annotate(tokens=Sum("tokens"), requests=Sum("all_requests"))
            .order_by()
        )
        days = [
            TokenDay(deployment_id=r["deployment_id"], day=day, tokens=r["tokens"], requests=r["requests"])
            for r in sums
        ]
        TokenDay.objects.bulk_create(days, batch_size=1000)
        day = after


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0015_deployment_event_moved"),
        ("observability", "0011_rollups_vacuumed_as_inserted"),
    ]

    operations = [
        migrations.AddField(
            model_name="slohour",
            name="all_requests",
            field=models.FloatField(default=0),
        ),
        migrations.AddField(
            model_name="slohour",
            name="tokens",
            field=models.FloatField(default=0),
        ),
        migrations.CreateModel(
            name="TokenDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateTimeField(help_text="Midnight UTC.")),
                ("tokens", models.FloatField(default=0)),
                ("requests", models.FloatField(default=0)),
                (
                    "deployment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="deployments.usecasedeployment",
                    ),
                ),
            ],
            options={
                "ordering": ["deployment", "day"],
                "indexes": [
                    models.Index(fields=["day"], include=("deployment", "tokens", "requests"), name="token_day_sums")
                ],
                "constraints": [models.UniqueConstraint(fields=("deployment", "day"), name="one_token_row_per_day")],
            },
        ),
        migrations.RunPython(fill_token_rows, migrations.RunPython.noop),
    ]
