"""The cost explorer's tokens from the daily and hourly rows collection writes: the same sums as the rollups'."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.db.models import F, Sum
from django.test import override_settings
from django.utils import timezone

from billing.costs import token_rows, token_spans
from jobs.models import Job
from observability.collect import metrics_collect, slo_hours_refresh, token_days_refresh
from observability.models import MetricRollup, SloHour, TokenDay

pytestmark = pytest.mark.django_db
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def explorer_tokens(user, start, end) -> dict:
    """{deployment id: (tokens, requests)} as the explorer reads them (a group may have a row per source)."""
    scope = {"user": user, "tenant": None, "project": None, "deployment_id": None}
    sums: dict = {}
    for row in token_rows(scope, "deployment", start, end):
        tokens, requests = sums.get(str(row["group_key"]), (0.0, 0.0))
        sums[str(row["group_key"])] = (tokens + row["tokens"], requests + row["requests"])
    return sums


def rollup_tokens(start, end) -> dict:
    """The same from every rollup with a start in [start, end): what the explorer summed before the daily rows."""
    rows = (
        MetricRollup.objects.filter(start__gte=start, start__lt=end)
        .values("deployment_id")
        .annotate(tokens=Sum(F("prompt_tokens") + F("output_tokens")), requests=Sum("requests"))
    )
    return {str(row["deployment_id"]): (row["tokens"], row["requests"]) for row in rows}


def test_the_window_is_cut_into_whole_days_whole_hours_and_minutes():
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = midnight - DAY - 90 * MINUTE - timedelta(seconds=30), midnight + 2 * HOUR + 7 * MINUTE
    days, hours, minutes = token_spans(start, end)
    assert days == [(midnight - DAY, midnight)]
    assert hours == [(midnight - DAY - HOUR, midnight - DAY), (midnight, midnight + 2 * HOUR)]
    assert minutes == [(start, midnight - DAY - HOUR), (midnight + 2 * HOUR, end)]
    assert token_spans(midnight, midnight + DAY) == ([(midnight, midnight + DAY)], [], [])
    assert token_spans(start, start + MINUTE) == ([], [], [(start, start + MINUTE)])


def test_the_explorer_tokens_from_daily_rows_equal_the_rollup_sums(deployment, admin_user, settings):
    """Collection across a midnight writes the hourly and daily rows; the explorer's sums over day-aligned and ragged
    windows are the rollups' (LLM and service components alike); a day of older rows refreshed the same way too."""
    settings.METRICS_CATCH_UP_MINUTES = 150
    midnight = (timezone.now() + 2 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=midnight - 71 * MINUTE)
    metrics_collect(now=midnight + 10 * MINUTE)
    metrics_collect(now=midnight + 70 * MINUTE)  # the day's row summed whole again
    assert MetricRollup.objects.filter(deployment=deployment, is_llm=False).exclude(requests=0).exists()
    # A day earlier, as if collected then: copies of the rows, refreshed as collection does.
    earlier = list(MetricRollup.objects.filter(deployment=deployment))
    for row in earlier:
        row.pk, row.start = None, row.start - DAY
    MetricRollup.objects.bulk_create(earlier)
    slo_hours_refresh(start=midnight - DAY - 2 * HOUR, end=midnight - DAY + 2 * HOUR)
    token_days_refresh(start=midnight - DAY - 2 * HOUR, end=midnight - DAY + 2 * HOUR)
    assert TokenDay.objects.filter(deployment=deployment).count() == 3  # days, not minutes (the copies share one)
    assert SloHour.objects.filter(deployment=deployment).count() == 2 * 4  # hours
    windows = (
        (midnight - 2 * DAY, midnight + DAY),  # whole days only
        (midnight - DAY, midnight + DAY),
        (midnight - 61 * MINUTE - timedelta(seconds=30), midnight + 37 * MINUTE),  # hours and minutes
        (midnight - DAY - 30 * MINUTE, midnight + 65 * MINUTE),  # minutes, a day, an hour, minutes
        (midnight - 13 * MINUTE, midnight - 2 * MINUTE),  # minutes only
    )
    for start, end in windows:
        expected = rollup_tokens(start, end)
        assert expected and all(tokens > 0 for tokens, _ in expected.values())
        served = explorer_tokens(admin_user, start, end)
        assert served.keys() == expected.keys(), (start, end)
        for key, (tokens, requests) in expected.items():
            assert served[key][0] == pytest.approx(tokens, rel=1e-12), (start, end)
            assert served[key][1] == pytest.approx(requests, rel=1e-12), (start, end)


def test_the_migration_fills_the_rows_collection_would_have_written(deployment):
    """Rollups collected before the daily rows existed: the migration's fill writes the SLO hours and daily rows
    collection writes now."""
    from django.apps import apps

    fill = import_module("observability.migrations.0012_token_days").fill_token_rows
    midnight = (timezone.now() + 2 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=midnight - 31 * MINUTE)
    with override_settings(METRICS_CATCH_UP_MINUTES=60):
        metrics_collect(now=midnight + 20 * MINUTE)
    fields = ("deployment_id", "hour", "requests", "errors", "ttft_good", "tokens", "all_requests")
    written = (list(SloHour.objects.values_list(*fields)), list(TokenDay.objects.values_list("day", "tokens")))
    assert len(written[0]) == 2 and len(written[1]) == 2
    SloHour.objects.all().delete()
    TokenDay.objects.all().delete()
    fill(apps, None)
    filled = (list(SloHour.objects.values_list(*fields)), list(TokenDay.objects.values_list("day", "tokens")))
    assert filled == written
