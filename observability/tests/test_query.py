"""Range queries answer every latency point within 1% of the raw samples, whichever way they read it: a step of one
row from its stored quantile columns, a step of several rows by merging their sketches."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.tests.indexes import columns_outside_index, index_definition
from jobs.models import Job
from observability.collect import (
    deployment_rollups_refresh,
    floor_minute,
    metrics_collect,
    metrics_compact,
    rollup_from_window,
)
from observability.models import DeploymentRollup, MetricRollup
from observability.query import QUANTILES, range_query
from observability.sketch import STORED_QUANTILES, sketch_merge_json, sketch_quantile
from observability.tests.test_sketch import exact_quantile
from sizing.loadsim import Window

pytestmark = pytest.mark.django_db
E2E = "vllm:e2e_request_latency_seconds"
TTFT = "vllm:time_to_first_token_seconds"


def store_minutes(deployment, *, start, minutes: int, keys=("llm", "api")) -> dict:
    """Minutes of rollups from known raw samples: {(key, minute index): [e2e samples]} and the same for ttft."""
    rng = random.Random(11)
    raw: dict = {}
    rows = []
    for key in keys:
        for m in range(minutes):
            scale = 0.3 * (1 + keys.index(key)) * (4 if m % 7 == 0 else 1)
            e2e = [rng.lognormvariate(0, 0.5) * scale for _ in range(rng.randint(40, 300))]
            ttft = [v / 5 for v in e2e] if key == "llm" else []
            raw[(key, m)] = e2e
            window = Window(start=start + timedelta(minutes=m), seconds=60, requests=len(e2e), replicas=1)
            window.e2e = [(v, 1.0) for v in e2e]
            window.ttft = [(v, 1.0) for v in ttft]
            rows.append(rollup_from_window(deployment, key, window, Decimal("0.01"), {}, key == "llm"))
    MetricRollup.objects.bulk_create(rows)
    # What collection writes beside them: the deployment's own rows, one a minute, the whole deployment's queries read.
    deployment_rollups_refresh(start=start, end=start + timedelta(minutes=minutes), deployment_ids=[deployment.pk])
    return raw


def points(answer: dict, name: str) -> dict:
    return {
        float(s["metric"]["quantile"]): {t: float(v) for t, v in s["values"]}
        for s in answer["data"]["result"]
        if s["metric"]["__name__"] == name
    }


def test_every_path_answers_within_one_percent_of_the_raw_samples(deployment, django_assert_max_num_queries):
    start = floor_minute(timezone.now()) - timedelta(hours=2)
    raw = store_minutes(deployment, start=start, minutes=30)
    ask = {"deployment_id": deployment.pk, "start": start, "end": start + timedelta(minutes=30)}
    # One row per step (one component, 1-minute step): the stored columns, one query, no sketch read.
    with django_assert_max_num_queries(1):
        one = points(range_query(names=[E2E], step=60, component="llm", quantiles=STORED_QUANTILES, **ask), E2E)
    # Several rows per step (the deployment as a whole, or 10-minute steps): the sketches merged, in the same query.
    with django_assert_max_num_queries(1):
        whole = points(range_query(names=[E2E], step=60, quantiles=STORED_QUANTILES, **ask), E2E)
    coarse = points(range_query(names=[E2E], step=600, component="llm", **ask), E2E)
    odd = points(range_query(names=[E2E], step=60, component="llm", quantiles=(0.75,), **ask), E2E)  # not stored
    for q in STORED_QUANTILES:
        for m in range(30):
            t = (start + timedelta(minutes=m)).timestamp()
            for answer, samples in ((one, raw[("llm", m)]), (whole, raw[("llm", m)] + raw[("api", m)])):
                expected = exact_quantile(samples, q)
                assert abs(answer[q][t] - expected) <= 0.01 * expected, (q, m)
    for q in QUANTILES:
        for k in range(3):
            expected = exact_quantile([v for m in range(10 * k, 10 * k + 10) for v in raw[("llm", m)]], q)
            assert abs(coarse[q][(start + timedelta(minutes=10 * k)).timestamp()] - expected) <= 0.01 * expected
    for m in range(30):
        expected = exact_quantile(raw[("llm", m)], 0.75)
        assert abs(odd[0.75][(start + timedelta(minutes=m)).timestamp()] - expected) <= 0.01 * expected


def test_stored_columns_are_the_answer_of_the_rows_own_sketch(deployment):
    start = floor_minute(timezone.now()) - timedelta(hours=2)
    store_minutes(deployment, start=start, minutes=5, keys=("llm",))
    for row in MetricRollup.objects.filter(deployment=deployment):
        for q in STORED_QUANTILES:
            column = f"e2e_p{round(q * 100)}"
            assert getattr(row, column) == sketch_quantile(sketch_merge_json([row.e2e]), q)
        assert row.ttft_p99 == sketch_quantile(sketch_merge_json([row.ttft]), 0.99)


def test_hourly_rows_keep_their_merged_quantiles(deployment, settings):
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(days=9))
    now = floor_minute(timezone.now())
    metrics_collect(now=now - timedelta(days=8))
    settings.METRICS_RETENTION_DAYS = 90
    metrics_compact(now=now)
    hours = MetricRollup.objects.filter(deployment=deployment, resolution=MetricRollup.Resolution.HOUR)
    assert hours.exists()
    for row in hours:
        assert row.e2e_p95 == sketch_quantile(sketch_merge_json([row.e2e]), 0.95)


NAMES = [
    TTFT,
    E2E,
    "vllm:time_per_output_token_seconds",
    "vllm:request_success_total",
    "vllm:generation_tokens_total",
    "ucf:requests_total",
    "vllm:num_requests_running",
    "ucf:replicas",
    "DCGM_FI_DEV_GPU_UTIL",
    "ucf:cpu_utilisation",
    "ucf:cost_dollars",
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own path (SQLite has only one)")
def test_postgresql_path_answers_what_the_generic_path_answers(deployment, django_assert_max_num_queries):
    """The one-statement SQL path (steps grouped and sketches merged by PostgreSQL) gives the very answer of the
    generic path (grouped and merged in Python) for every kind of series, step and selection, hourly rows and a
    1-minute step holding two LLM components included."""
    from observability.query import _rows, python_range_query

    start = floor_minute(timezone.now()) - timedelta(hours=3)
    store_minutes(deployment, start=start, minutes=45, keys=("llm", "api", "llm2"))
    MetricRollup.objects.filter(deployment=deployment, component_key="llm2").update(is_llm=True)
    hour = start - timedelta(hours=1)
    store_minutes(deployment, start=hour, minutes=3, keys=("llm",))
    MetricRollup.objects.filter(deployment=deployment, start__gte=hour, start__lt=start).update(resolution=3600)
    # Every column a series reads, varied from row to row (the samples above set only requests and latencies).
    MetricRollup.objects.filter(deployment=deployment).update(
        errors=F("requests") / 7,
        output_tokens=F("requests") * 3.5,
        running=F("requests") / 11,
        gpu_utilisation=1 / (F("requests") + 1.5),
        cpu_utilisation=F("requests") / 333.0,
        replicas=F("requests") / 100 + 1,
        cost=F("requests") / 1000,
    )
    for resolution, since in ((60, start), (3600, hour)):
        deployment_rollups_refresh(start=since, end=start + timedelta(minutes=45), deployment_ids=[deployment.pk],
                                   resolution=resolution)  # fmt: skip
    cases = 0
    for selection in ({"component": "llm"}, {"component": "api"}, {}, {"llm_only": True}):
        for step in (60, 120, 600, 3600):
            for quantiles in (QUANTILES, STORED_QUANTILES, (0.75,)):
                for first in (hour, start + timedelta(seconds=30)):
                    ask = {"deployment_id": deployment.pk, "start": first, "end": start + timedelta(minutes=45)}
                    component, llm_only = selection.get("component", ""), selection.get("llm_only", False)
                    rows = _rows(ask["deployment_id"], ask["start"], ask["end"], component, llm_only)
                    expected = python_range_query(rows, NAMES, ask["start"], step, component, quantiles, llm_only)
                    with django_assert_max_num_queries(2):
                        answer = range_query(names=NAMES, step=step, quantiles=quantiles, **selection, **ask)
                    assert answer == expected, (selection, step, quantiles, first)
                    assert any(s["values"] for s in answer["data"]["result"])
                    # The API's way: the points serialized as they are read; the same bytes once written.
                    with django_assert_max_num_queries(2):
                        body = range_query(names=NAMES, step=step, quantiles=quantiles, json_points=True, **selection,
                                           **ask)  # fmt: skip
                    assert orjson.dumps(body) == orjson.dumps(expected), (selection, step, quantiles, first)
                    cases += 1
    assert cases == 96


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own path (SQLite has only one)")
def test_serialized_points_are_the_lists_bytes_for_any_value(deployment):
    """Values of every form `.6g` and orjson write differently (tiny, huge, negative, zero, -0.0, rounding up to a
    new decade, exact ties) and fractional timestamps: the pre-serialized points are the lists' bytes."""
    start = floor_minute(timezone.now()) - timedelta(hours=2)
    store_minutes(deployment, start=start, minutes=12, keys=("llm",))
    values = [0.0, -0.0, 1e-7, 1.234565e-5, 999999.5, 1234565.0, 100000.5, 2.5e21, -3.75, 0.1 + 0.2, 1 / 3, 7.0]
    for m, value in enumerate(values):
        MetricRollup.objects.filter(deployment=deployment, start=start + timedelta(minutes=m)).update(
            gpu_utilisation=value / 100, ttft_p50=value
        )
    for first in (start, start + timedelta(seconds=0.25)):
        ask = {"deployment_id": deployment.pk, "start": first, "end": start + timedelta(minutes=12), "step": 60}
        names = [TTFT, "DCGM_FI_DEV_GPU_UTIL"]
        lists = range_query(names=names, component="llm", quantiles=STORED_QUANTILES, **ask)
        body = range_query(names=names, component="llm", quantiles=STORED_QUANTILES, json_points=True, **ask)
        assert orjson.dumps(body) == orjson.dumps(lists)
        assert {v for s in lists["data"]["result"] for _, v in s["values"]} >= {"1e+06", "1.23456e+06", "1e-07"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's covering indexes")
@pytest.mark.parametrize(("component", "index"), [("", "deployment_series"), ("llm", "component_series"),
                                                  ("api", "component_series")])  # fmt: skip
def test_one_minute_series_are_read_from_a_covering_index(deployment, component, index):
    """Every column a 1-minute range query reads (over the whole deployment, or one component) is in its covering
    index, so PostgreSQL can answer it with an index-only scan (measured: 54 index pages for a day instead of 491
    heap pages, BENCHMARKS.md). Checked by the index's definition, not the plan (`core.tests.indexes`)."""
    from observability.query import _rows, _sql_steps

    start = floor_minute(timezone.now()) - timedelta(hours=1)
    store_minutes(deployment, start=start, minutes=5)
    rows = _rows(deployment.pk, start, start + timedelta(minutes=5), component, False)
    with CaptureQueriesContext(connection) as captured:
        assert _sql_steps(rows, NAMES, start, 60, not component, False, STORED_QUANTILES, per_row=True)
    table = (DeploymentRollup if not component else MetricRollup)._meta.db_table
    read, outside = columns_outside_index(captured[-1]["sql"], table, index)
    assert {"deployment_id", "start", "ttft_p99"} <= read, read
    assert not outside, (outside, index_definition(index))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's autovacuum")
def test_rollup_tables_are_vacuumed_as_rows_are_inserted():
    """Index-only scans need the visibility map VACUUM sets: the insert-mostly rollup tables are vacuumed every
    10,000 inserted rows, not every 20% of the table (migration 0011)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN "
            "('observability_metricrollup', 'observability_deploymentrollup')"
        )
        options = dict(cursor.fetchall())
    assert set(options) == {"observability_metricrollup", "observability_deploymentrollup"}
    for table, settings in options.items():
        assert "autovacuum_vacuum_insert_threshold=10000" in settings, table
        assert "autovacuum_vacuum_insert_scale_factor=0" in settings, table
