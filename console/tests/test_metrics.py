"""The deployment page's metrics section: charts with axes, units and the SLO line, the range switch, tenant scope;
and the chart layout itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from autoscaling.models import ScalingDecision
from console.metrics_chart import time_chart
from jobs.models import Job
from observability.collect import floor_minute, metrics_collect
from observability.tests.conftest import running_deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(admin_user, project, tenant, shipped_usecases):
    deployment = running_deployment(user=admin_user, project=project, tenant=tenant)
    Job.objects.filter(usecase_deployment_id=deployment.pk).update(started_at=F("started_at") - timedelta(minutes=30))
    assert metrics_collect(now=floor_minute(timezone.now())).rows
    return deployment


def test_latency_chart_puts_the_slo_line_at_the_target_and_labels_axes():
    chart = time_chart(
        key="ttft",
        title="Time to first token",
        unit="s",
        series=[("p50", [(0, 0.1), (60, 0.2)]), ("p99", [(0, 0.3), (60, 0.5)])],
        slo=0.35,
        start=0,
        end=120,
        step=60,
    )
    bottom, top = chart.plot_bottom, chart.top
    zero = next(t for t in chart.y_ticks if t.text == "0")
    assert zero.position == bottom
    highest = chart.y_ticks[-1]
    assert highest.text == "600 ms" and highest.position == top  # 0.5 * 1.15 rounded up to a 0.2 step
    assert chart.slo_y == pytest.approx(bottom - 0.35 / 0.6 * (bottom - top), abs=0.1)
    assert chart.slo_label == "350 ms" and [line.latest for line in chart.lines] == ["200 ms", "500 ms"]
    assert [t.text for t in chart.x_ticks] == ["00:00"]  # one tick per 5 min at least


def test_replicas_are_a_step_line_on_a_right_axis_of_whole_replicas():
    chart = time_chart(
        key="ttft", title="TTFT", unit="s", series=[("p50", [(0, 0.1), (60, 0.2), (120, 0.1)])], slo=0.35, start=0,
        end=180, step=60, replicas=[(0, 1.0), (60, 1.0), (120, 3.0)],
    )  # fmt: skip
    assert chart.plot_right == 600 and [t.text for t in chart.replica_ticks] == ["0", "1", "2", "3", "4"]
    points = [tuple(map(float, p.split(","))) for p in chart.replicas.segments[0].split()]
    ys = {t.text: t.position for t in chart.replica_ticks}
    # Held at 1 until 120 s, then straight up to 3: a step, not a slope.
    assert points[-2] == (points[-1][0], ys["1"]) and points[-1][1] == ys["3"]
    assert chart.replicas.latest == "3" and "replicas now 3" in chart.description
    assert time_chart(key="gpu", title="GPU", unit="%", series=[], start=0, end=60, step=60).replicas is None


def test_a_gap_in_the_data_breaks_the_line():
    chart = time_chart(
        key="gpu", title="GPU", unit="%", series=[("gpu", [(0, 50), (60, 50), (600, 70)])], start=0, end=660,
        step=60, y_max=100,
    )  # fmt: skip
    assert len(chart.lines[0].segments) == 2 and chart.y_ticks[-1].text == "100%"


def test_deployment_page_draws_each_chart_with_its_slo_line(member_web, collected, django_assert_max_num_queries):
    with django_assert_max_num_queries(60):
        response = member_web.get(f"/deployments/{collected.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    for key in ("ttft", "itl", "e2e", "requests", "tokens", "gpu", "replicas", "cost"):
        assert f'data-chart="{key}"' in html, key
    assert html.count('data-testid="slo-line"') == 3  # TTFT, ITL and end-to-end, each against its target
    assert "SLO 350 ms" in html  # ambient_scribe's TTFT target
    assert len(re.findall(r'<polyline class="series s\d"', html)) >= 8
    assert 'hx-trigger="every 60s"' in html and 'data-testid="slo-attainment"' in html
    # The LLM's replica count on the latency and throughput charts themselves (right axis).
    assert html.count('data-testid="replica-line"') >= 4 and "LLM replicas (right axis)" in html


def test_the_autoscalers_decisions_are_marked_on_the_replica_line(member_web, collected):
    decision = ScalingDecision.objects.create(
        deployment=collected, component_key="llm", from_replicas=1, to_replicas=2, direction="up",
        reason="p95 TTFT 1.8 s > 1.5 s target: 1 → 2 replicas",
    )  # fmt: skip
    # Five minutes ago: the charts end at the last whole minute.
    ScalingDecision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    html = member_web.get(f"/deployments/{collected.pk}/metrics", {"range": "1h"}).content.decode()
    # On each chart that draws the replica line (three latencies and the throughput), with its reason on hover.
    assert html.count('data-testid="decision-mark"') == 4
    assert "llm: p95 TTFT 1.8 s &gt; 1.5 s target: 1 → 2 replicas</title>" in html
    chart = time_chart(
        key="requests", title="Throughput", unit="req/s", series=[], start=0, end=600, step=60,
        replicas=[(0, 1), (300, 2)], decisions=[(300, 4, "up")],
    )  # fmt: skip
    [mark] = chart.decision_marks
    assert int(chart.replica_ticks[-1].text) >= 4  # the right axis reaches the decided count, not only the line's
    ticks = {tick.text: tick.position for tick in chart.replica_ticks}
    assert mark.text == "up" and mark.y == ticks["4"] and any(f"{mark.x}," in line for line in chart.replicas.segments)


@pytest.mark.parametrize("name", ["1h", "24h", "7d"])
def test_the_range_switch_answers_the_fragment(member_web, collected, name):
    response = member_web.get(f"/deployments/{collected.pk}/metrics", {"range": name})
    html = response.content.decode()
    assert response.status_code == 200 and f'data-range="{name}"' in html and "<html" not in html
    assert 'data-chart="ttft"' in html


def test_another_tenants_metrics_are_404(other_web, collected):
    assert other_web.get(f"/deployments/{collected.pk}/metrics").status_code == 404


def test_no_metrics_yet_says_so(member_web, admin_user, project, tenant, shipped_usecases):
    deployment = running_deployment(user=admin_user, project=project, tenant=tenant, name="fresh")
    html = member_web.get(f"/deployments/{deployment.pk}/metrics").content.decode()
    assert 'data-testid="metrics-empty"' in html
