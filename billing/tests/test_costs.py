import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.metering import metering_pass
from billing.models import UsageRecord
from billing.sums import Total, exact_aggregate
from billing.tests.test_metering import PRICES, ran
from jobs.models import Job
from jobs.tests.factories import ClusterFactory
from observability.collect import slo_hours_refresh, token_days_refresh
from observability.models import MetricRollup
from observability.tests.conftest import running_deployment
from sizing.tests.conftest import shipped_usecases  # noqa: F401
from tenancy.tests.factories import ProjectFactory

AMOUNT = Total(("gpu_amount", "cpu_amount", "memory_amount"))
M0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
URL = "/api/v1/costs"


def amount_of(**filters) -> Decimal:
    total = exact_aggregate(UsageRecord.objects.filter(**filters), {"total": AMOUNT})["total"]
    return total or Decimal(0)


@pytest.fixture
def usage(tenant, project, other_tenant, other_project, admin_user, shipped_usecases):  # noqa: F811
    """March 2026: an H100 job of a deployment (project-a) on day 2, a CPU job (project-c) on day 3, and another
    tenant's job; the deployment served 3 M tokens that month."""
    deployment = running_deployment(user=admin_user, project=project, tenant=tenant, name="scribe")
    Job.objects.filter(usecase_deployment_id=deployment.pk).delete()  # its own jobs run now, not in March
    cluster = ClusterFactory(tenant=tenant, name="priced", prices=PRICES)
    gpu_job = ran(
        cluster,
        project,
        start=M0 + dt.timedelta(days=1, hours=10, seconds=30),
        stop=M0 + dt.timedelta(days=1, hours=11),
    )
    Job.objects.filter(pk=gpu_job.pk).update(usecase_deployment_id=deployment.pk)
    second = ProjectFactory(tenant=tenant, name="project-c")
    ran(cluster, second, start=M0 + dt.timedelta(days=2), stop=M0 + dt.timedelta(days=2, hours=2), gpus=0)
    elsewhere = ClusterFactory(tenant=other_tenant, name="theirs", prices=PRICES)
    ran(elsewhere, other_project, start=M0 + dt.timedelta(days=1), stop=M0 + dt.timedelta(days=1, hours=5))
    metering_pass(now=M0 + dt.timedelta(days=10))
    MetricRollup.objects.bulk_create(
        MetricRollup(
            deployment=deployment,
            component_key="llm",
            is_llm=True,
            start=M0 + dt.timedelta(days=1, hours=10, minutes=minute),
            requests=100,
            prompt_tokens=30_000,
            output_tokens=20_000,
        )
        for minute in range(60)
    )
    # and the hourly and daily token rows collection writes with them
    slo_hours_refresh(start=M0, end=M0 + dt.timedelta(days=31))
    token_days_refresh(start=M0, end=M0 + dt.timedelta(days=31))
    return {"deployment": deployment, "second": second}


@pytest.mark.django_db
def test_cost_by_project_per_day_sums_the_records_and_hides_other_tenants(
    usage, tenant, project, member_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = member_client.get(URL, {"group_by": "project", "month": "2026-03", "step": "day"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["from"].startswith("2026-03-01T00:00:00") and body["to"].startswith("2026-04-01T00:00:00")
    assert len(body["buckets"]) == 31 and body["count"] == 2
    assert Decimal(body["total"]) == amount_of(tenant=tenant) > 0
    by_label = {group["label"]: group for group in body["results"]}
    assert set(by_label) == {"project-a", "project-c"}
    first = by_label["project-a"]
    assert Decimal(first["total"]) == amount_of(project=project)
    assert [i for i, amount in enumerate(first["amounts"]) if Decimal(amount)] == [1]  # day 2 only
    assert sum(Decimal(a) for a in first["amounts"]) == Decimal(first["total"])
    assert Decimal(first["gpu_minutes"]) == Decimal("59.5")
    # The H100 job costs more than two hours of one core: largest first.
    assert [group["label"] for group in body["results"]] == ["project-a", "project-c"]


@pytest.mark.django_db
def test_cost_per_million_tokens_by_use_case_template_and_deployment(usage, member_client):
    deployment = usage["deployment"]
    served = 60 * 50_000
    cost = amount_of(usecase_deployment_id=deployment.pk)
    expected = (cost * 1_000_000 / served).quantize(Decimal("0.000001"))
    for group_by, key, label in (
        ("usecase", "ambient_scribe", "ambient_scribe"),
        ("template", "simple-rag-v1", "simple-rag-v1"),
        ("deployment", str(deployment.pk), "scribe"),
    ):
        body = member_client.get(URL, {"group_by": group_by, "month": "2026-03"}).json()
        group = next(g for g in body["results"] if g["key"] == key)
        assert group["label"] == label and Decimal(group["total"]) == cost
        assert group["tokens"] == served and Decimal(group["cost_per_million_tokens"]) == expected
        rest = [g for g in body["results"] if g["key"] != key]
        assert [g["tokens"] for g in rest] == [None]  # the CPU job served nothing
    gpu = member_client.get(URL, {"group_by": "gpu_type", "month": "2026-03"}).json()
    assert {g["label"] for g in gpu["results"]} == {"H100-80GB", "(no GPU)"}
    assert gpu["cost_per_million_tokens"] is None


@pytest.mark.django_db
def test_hourly_steps_over_a_day_and_the_filters(usage, member_client, project):
    day = {"from": "2026-03-02", "to": "2026-03-03", "step": "hour", "group_by": "tenant"}
    body = member_client.get(URL, day).json()
    assert len(body["buckets"]) == 24 and body["buckets"][10].startswith("2026-03-02T10:00:00")
    (group,) = body["results"]
    assert [i for i, amount in enumerate(group["amounts"]) if Decimal(amount)] == [10]
    only = member_client.get(URL, {"month": "2026-03", "project_id": str(usage["second"].pk)}).json()
    assert [g["label"] for g in only["results"]] == ["project-c"]
    paged = member_client.get(URL, {"month": "2026-03", "limit": 1}).json()
    assert paged["count"] == 2 and len(paged["results"]) == 1 and paged["next"]


@pytest.mark.django_db
def test_csv_export_as_format_and_as_suffix(usage, viewer_client, tenant):
    for response in (
        viewer_client.get(URL, {"month": "2026-03", "format": "csv", "group_by": "project"}),
        viewer_client.get(f"{URL}.csv", {"month": "2026-03", "group_by": "project"}),
    ):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        totals = [row for row in rows if row["start"] == "TOTAL"]
        steps = [row for row in rows if row["start"] != "TOTAL"]
        assert {row["label"] for row in totals} == {"project-a", "project-c"}
        assert sum(Decimal(row["amount"]) for row in totals) == amount_of(tenant=tenant)
        assert sum(Decimal(row["amount"]) for row in steps) == amount_of(tenant=tenant)


@pytest.mark.django_db
def test_field_errors_and_tenant_isolation(usage, member_client, other_client, api_client, tenant, other_project):
    bad = member_client.get(URL, {"group_by": "colour", "step": "week", "from": "yesterday", "colour": "red"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"colour"}
    bad = member_client.get(URL, {"group_by": "colour", "step": "week", "from": "yesterday"})
    assert set(bad.json()["errors"]) == {"group_by", "step", "from"}
    backwards = member_client.get(URL, {"from": "2026-03-05", "to": "2026-03-01"})
    assert backwards.status_code == 400 and "from" in backwards.json()["errors"]
    too_long = member_client.get(URL, {"from": "2026-01-01", "to": "2026-06-01", "step": "hour"})
    assert too_long.status_code == 400 and "from" in too_long.json()["errors"]
    both = member_client.get(URL, {"month": "2026-03", "from": "2026-03-01"})
    assert both.status_code == 400 and "month" in both.json()["errors"]
    assert member_client.get(URL, {"month": "2026-13"}).status_code == 400
    foreign = member_client.get(URL, {"project_id": str(other_project.pk), "tenant_id": str(usage["second"].tenant_id)})
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"project_id"}
    theirs = other_client.get(URL, {"month": "2026-03"}).json()
    assert [g["label"] for g in theirs["results"]] == ["project-b"]
    assert Decimal(theirs["total"]) == amount_of(tenant=other_project.tenant)
    assert other_client.get(URL, {"tenant_id": str(tenant.pk)}).status_code == 400
    # Our deployment's id narrows their usage to nothing; their CSV lists only theirs.
    ours = other_client.get(URL, {"month": "2026-03", "deployment_id": str(usage["deployment"].pk)}).json()
    assert (ours["count"], Decimal(ours["total"]), ours["results"]) == (0, 0, [])
    exported = other_client.get(f"{URL}.csv", {"month": "2026-03", "group_by": "deployment"}).content.decode()
    assert str(usage["deployment"].pk) not in exported and "scribe" not in exported
    assert Decimal(next(csv.DictReader(io.StringIO(exported)))["amount"]) > 0
    assert api_client.get(URL).status_code == 401


@pytest.mark.django_db
def test_a_page_by_deployment_costs_the_same_queries_for_3_or_12_deployments_and_carries_its_steps(
    tenant, project, member_client
):
    cluster = ClusterFactory(tenant=tenant, name="paged", prices=PRICES)
    crowded = ProjectFactory(tenant=tenant, name="crowded")
    for index in range(15):
        start = M0 + dt.timedelta(days=index % 7, hours=index)
        stop = start + dt.timedelta(minutes=20 + index)
        job = ran(cluster, project if index < 3 else crowded, start=start, stop=stop)
        Job.objects.filter(pk=job.pk).update(usecase_deployment_id=uuid.uuid4())
    metering_pass(now=M0 + dt.timedelta(days=10))
    counts, bodies = [], []
    assert member_client.get(URL).status_code == 200  # the caller's roles, looked up once per client
    for which in (project, crowded):
        query = {"group_by": "deployment", "month": "2026-03", "project_id": str(which.pk), "limit": 2, "offset": 1}
        with CaptureQueriesContext(connection) as queries:
            response = member_client.get(URL, query)
        assert response.status_code == 200, response.json()
        counts.append(len(queries))
        bodies.append(response.json())
    assert counts[0] == counts[1] <= 8
    assert [body["count"] for body in bodies] == [3, 12]
    for body, which in zip(bodies, (project, crowded), strict=True):
        assert Decimal(body["total"]) == amount_of(project=which)
        assert len(body["results"]) == 2
        for group in body["results"]:  # the page's groups, and their steps add up to their totals
            assert len(group["amounts"]) == 31
            assert (
                sum(Decimal(a) for a in group["amounts"])
                == Decimal(group["total"])
                == amount_of(usecase_deployment_id=group["key"])
            )


def test_the_amount_field_answers_what_drfs_decimal_field_does():
    from rest_framework import serializers

    from billing.api.cost_serializers import AMOUNT, AmountField

    fast, drf = AmountField(**AMOUNT), serializers.DecimalField(**AMOUNT)
    values = [Decimal(0), Decimal("0E-12"), Decimal("-0"), Decimal("1.5"), Decimal("5E+3"), Decimal("-3.000000000000")]
    values += [Decimal("0.1234567890125"), Decimal("123456789012345678.123456789012"), Decimal("0.000000000001")]
    values += [Decimal(n).scaleb(-12) for n in (1, -7, 10**17 + 3, 123456789, -(10**15))]
    assert [fast.to_representation(value) for value in values] == [drf.to_representation(value) for value in values]
    assert fast.to_representation(Decimal("4.5")) == "4.500000000000"
