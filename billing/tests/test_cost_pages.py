"""The explorer's pages as the database ranks them: the same groups, labels, order, count and totals as building and
sorting every group in Python (ties by label then key, by code point), the CSV as `csv.writer` wrote it, and a fixed
number of queries whatever the grouping or the page."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.cost_groups import groups_in_python
from billing.cost_sources import AMOUNTS, Source, bucket_starts, usage_scope
from billing.costs import DIMENSIONS
from billing.metering import metering_pass
from billing.tests.test_metering import PRICES, ran
from console.cost_chart import SERIES
from deployments.models import UseCaseDeployment
from jobs.models import Job
from jobs.tests.factories import ClusterFactory
from observability.tests.conftest import running_deployment
from sizing.tests.conftest import shipped_usecases  # noqa: F401
from tenancy.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db
M0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
M1 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
URL = "/api/v1/costs"
# Names whose order differs by code point and by a locale's collation, and one that CSV must quote.
NAMES = ("alpha", "Beta", "Élan", 'a, "quoted"', "zulu")


@pytest.fixture
def crowd(tenant, project, admin_user, shipped_usecases):  # noqa: F811
    """March 2026: five named deployments, three deleted ones and usage of no deployment, in two projects; most
    groups cost the same (one identical job each, on different days: ties ranked by label, then key), two cost
    more."""
    named = running_deployment(user=admin_user, project=project, tenant=tenant, name=NAMES[0])
    Job.objects.filter(usecase_deployment_id=named.pk).delete()  # its own jobs run now, not in March
    keys = [named.pk]
    for name in NAMES[1:]:
        copy = UseCaseDeployment.objects.get(pk=named.pk)
        copy.pk, copy.name = uuid.uuid4(), name
        copy.endpoint_slug = f"{named.endpoint_slug}-{len(keys)}"
        copy.save(force_insert=True)
        keys.append(copy.pk)
    keys += [uuid.uuid4() for _ in range(3)] + [None]
    cluster = ClusterFactory(tenant=tenant, name="crowd", prices=PRICES)
    second = ProjectFactory(tenant=tenant, name="project-z")
    for index, key in enumerate(keys):
        start = M0 + dt.timedelta(days=index, hours=3)
        minutes = 90 if index in (2, 6) else 30
        job = ran(cluster, project if index % 2 else second, start=start, stop=start + dt.timedelta(minutes=minutes))
        Job.objects.filter(pk=job.pk).update(usecase_deployment_id=key)
    gpu = ran(cluster, project, start=M0 + dt.timedelta(days=12), stop=M0 + dt.timedelta(days=12, minutes=45), gpus=2)
    Job.objects.filter(pk=gpu.pk).update(usecase_deployment_id=keys[3])
    metering_pass(now=M0 + dt.timedelta(days=20))
    return keys


def expected_groups(user, group_by: str) -> list:
    """Every group of March built and sorted in Python from the per-minute records (the SQLite path)."""
    rows = usage_scope(user=user).filter(minute__gte=M0, minute__lt=M1)
    buckets = tuple(bucket_starts(M0, M1, "day"))
    source = Source(rows, "minute", AMOUNTS, DIMENSIONS[group_by][0], "day", buckets)
    return groups_in_python(source, group_by, tokens=None)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 200  # the session and the caller's roles, looked up once per client
    return client


@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_the_pages_are_those_of_sorting_every_group_in_python(crowd, admin_user, group_by):
    expected = expected_groups(admin_user, group_by)
    client = client_of(admin_user)
    got, offset = [], 0
    while True:
        body = client.get(URL, {"group_by": group_by, "month": "2026-03", "limit": 3, "offset": offset}).json()
        assert body["count"] == len(expected)
        assert Decimal(body["total"]) == sum((group.total for group in expected), Decimal(0))
        got += [(group["key"], group["label"], Decimal(group["total"])) for group in body["results"]]
        for group in body["results"]:
            assert sum(Decimal(amount) for amount in group["amounts"]) == Decimal(group["total"])
        if not body["next"]:
            break
        offset += 3
    assert got == [(group.key, group.label, group.total) for group in expected]
    if group_by == "deployment":
        labels = [label for _, label, _ in got]
        # the GPU job's, then the two 90-minute ones (a tie: by label), then the 30-minute ones by code point:
        # capitals before small letters (a locale's collation would put "alpha" first), the deleted ones, "zulu"
        assert labels[:3] == ['a, "quoted"', labels[1], "Élan"] and labels[1].startswith("deleted deployment ")
        assert labels[3:6] == ["(no deployment)", "Beta", "alpha"] and labels[-1] == "zulu"


def test_the_csv_is_what_csv_writer_wrote_for_every_group(crowd, admin_user):
    expected = expected_groups(admin_user, "deployment")
    buckets = bucket_starts(M0, M1, "day")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group_by", "key", "label", "start", "amount", "gpu_minutes", "cpu_core_minutes"])
    for group in expected:
        for moment, amount in zip(buckets, group.amounts, strict=True):
            if amount:
                writer.writerow(["deployment", group.key, group.label, moment.isoformat(), amount, "", "", "", ""])
    for group in expected:
        totals = [group.total, group.gpu_minutes, group.cpu_core_minutes, group.memory_gib_minutes, ""]
        writer.writerow(["deployment", group.key, group.label, "TOTAL", *totals])
    response = client_of(admin_user).get(f"{URL}.csv", {"group_by": "deployment", "month": "2026-03"})
    header, rest = response.content.decode().split("\r\n", 1)
    assert header.endswith(",memory_gib_minutes,cost_per_million_tokens")
    assert '"a, ""quoted"""' in rest
    assert rest == out.getvalue().split("\r\n", 1)[1]


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the database ranks the groups on PostgreSQL only")
@pytest.mark.parametrize("group_by", sorted(DIMENSIONS))
def test_the_explorers_queries_whatever_the_grouping_or_the_page(crowd, admin_user, group_by, monkeypatch):
    """The answer's own queries (the session, user and memberships aside): one statement counting, totalling,
    labelling and ranking the groups and returning the page's with their steps (a month: from the cost rollups)."""
    from console.views import costs

    monkeypatch.setattr(costs, "PAGE_SIZE", 2)  # the console's page 4 is a later page (the chart's groups are 0-5)
    count = len(expected_groups(admin_user, group_by))
    client = client_of(admin_user)
    month = {"group_by": group_by, "month": "2026-03"}
    for path, query in (
        (URL, month),
        (URL, {**month, "limit": 2, "offset": 4}),
        (f"{URL}.csv", month),
        ("/costs/", month),
        ("/costs/", {**month, "page": 4}),
    ):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path, query).status_code == 200
        sqls = [query["sql"] for query in captured.captured_queries]
        billing = [sql for sql in sqls if "billing_" in sql or "observability_" in sql]
        # the API's page comes with its steps; the CSV reads every group's steps as it writes them; the console's
        # chart and table page come with their steps, then all groups' per-step totals unless those are all of them
        expected = {URL: 1, f"{URL}.csv": 2, "/costs/": 2 if count > SERIES else 1}[path]
        assert len(billing) == expected, (path, query, billing)
        assert len(sqls) - len(billing) <= 3  # the session, user and memberships


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the database ranks the groups on PostgreSQL only")
def test_the_consoles_table_pages_through_every_group(crowd, admin_user, monkeypatch):
    from console.views import costs

    monkeypatch.setattr(costs, "PAGE_SIZE", 3)
    expected = [group.label for group in expected_groups(admin_user, "deployment")]
    client = client_of(admin_user)
    for page, labels in (("2", expected[3:6]), ("99", expected[(len(expected) - 1) // 3 * 3 :]), ("x", expected[:3])):
        body = client.get("/costs/", {"group_by": "deployment", "month": "2026-03", "page": page}).content.decode()
        table = body[body.index("<tbody>") : body.index("</tbody>")]
        shown = [row.split("</th>")[0] for row in table.split('<th scope="row">')[1:]]
        assert shown == [label.replace('"', "&quot;") for label in labels], page
