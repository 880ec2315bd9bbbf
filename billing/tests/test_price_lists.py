"""Prices change only through billing's price history, and usage on each side of a change bills at its price."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.metering import floor_minute, metering_pass
from billing.models import PriceList, UsageRecord
from billing.services import price_list_create, price_lists_apply_due
from jobs.models import Cluster, Job
from jobs.selectors import estimate_hourly_cost
from jobs.tests.factories import ClusterFactory, resources

PRICES = {"gpu_hour": {"H100-80GB": 3.6}, "cpu_hour": 0.0, "memory_gib_hour": 0.0}
DOUBLED = {"gpu_hour": {"H100-80GB": 7.2}, "cpu_hour": 0.0, "memory_gib_hour": 0.0}


@pytest.fixture
def priced(tenant):
    return ClusterFactory(tenant=tenant, name="priced", prices=PRICES)


def test_a_price_change_through_the_api_bills_each_side_at_its_price(priced, project, admin_client):
    # The cluster PATCH a user would try first is refused, naming where prices change.
    response = admin_client.patch(f"/api/v1/clusters/{priced.pk}", {"prices": DOUBLED}, format="json")
    assert response.status_code == 400, response.content
    assert "/api/v1/price-lists" in str(response.json()["errors"]["prices"])
    priced.refresh_from_db()
    assert priced.prices == PRICES
    # Sending the prices unchanged with other fields still works.
    response = admin_client.patch(f"/api/v1/clusters/{priced.pk}", {"prices": PRICES, "name": "p2"}, format="json")
    assert response.status_code == 200, response.content

    change_at = floor_minute(timezone.now()) + dt.timedelta(minutes=2)
    job = Job.objects.create(
        name="job",
        job_type=Job.JobType.SERVICE,
        cluster=priced,
        tenant=priced.tenant,
        project=project,
        resources=resources(gpus=1, cpu=0, memory_gib=0),
        status=Job.Status.SUCCEEDED,
        started_at=change_at - dt.timedelta(minutes=3),
        completed_at=change_at + dt.timedelta(minutes=2),
    )
    body = {"cluster_id": str(priced.pk), "prices": DOUBLED, "effective_from": change_at.isoformat()}
    response = admin_client.post("/api/v1/price-lists", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["effective_from"].startswith(change_at.strftime("%Y-%m-%dT%H:%M"))
    metering_pass(now=change_at + dt.timedelta(minutes=10))

    amounts = list(UsageRecord.objects.filter(job=job).order_by("minute").values_list("minute", "gpu_amount"))
    assert [amount for _, amount in amounts] == [Decimal("0.06")] * 3 + [Decimal("0.12")] * 2
    assert all((minute < change_at) == (amount == Decimal("0.06")) for minute, amount in amounts)
    history = list(PriceList.objects.filter(cluster=priced).values_list("prices", flat=True))
    assert history == [PRICES, DOUBLED]  # the prices until the change were recorded as the list before it


def test_price_list_field_errors_roles_and_tenants(priced, other_cluster, admin_client, member_client, other_client):
    later = (floor_minute(timezone.now()) + dt.timedelta(hours=1)).isoformat()
    body = {"cluster_id": str(priced.pk), "prices": DOUBLED, "effective_from": later}
    assert member_client.post("/api/v1/price-lists", body, format="json").status_code == 403
    errors = admin_client.post(
        "/api/v1/price-lists",
        {**body, "effective_from": "2020-01-01T00:00:00Z", "cluster_id": str(other_cluster.pk)},
        format="json",
    ).json()["errors"]
    assert set(errors) == {"effective_from", "cluster_id"}
    seconds = admin_client.post("/api/v1/price-lists", {**body, "effective_from": later[:17] + "30Z"}, format="json")
    assert seconds.status_code == 400 and "effective_from" in seconds.json()["errors"]
    bad = admin_client.post("/api/v1/price-lists", {**body, "prices": {"gpu_hour": {"B200": 9}}}, format="json")
    assert bad.status_code == 400 and "prices.gpu_hour.B200" in bad.json()["errors"]
    created = admin_client.post("/api/v1/price-lists", body, format="json")
    assert created.status_code == 201
    assert admin_client.post("/api/v1/price-lists", body, format="json").status_code == 400  # same moment
    assert other_client.get(f"/api/v1/price-lists/{created.json()['id']}").status_code == 404
    assert other_client.get("/api/v1/price-lists").json()["count"] == 0
    listed = admin_client.get(f"/api/v1/price-lists?cluster_id={priced.pk}&effective_after={later[:16]}Z").json()
    assert [item["effective_from"] for item in listed["results"]] == [created.json()["effective_from"]]


def test_price_list_query_count(priced, admin_client, admin_user, django_assert_max_num_queries):
    start = floor_minute(timezone.now())
    for hours in range(1, 6):
        price_list_create(
            user=admin_user, cluster=priced, prices=PRICES, effective_from=start + dt.timedelta(hours=hours)
        )
    with django_assert_max_num_queries(6):
        response = admin_client.get("/api/v1/price-lists")
    assert response.json()["count"] == 6


def test_the_admin_keeps_prices_read_only_on_a_change(priced, superuser, client):
    client.force_login(superuser)
    page = client.get(f"/admin/jobs/cluster/{priced.pk}/change/")
    assert page.status_code == 200
    assert 'name="prices"' not in page.content.decode()
    assert 'name="prices"' in client.get("/admin/jobs/cluster/add/").content.decode()
    assert Cluster.objects.get(pk=priced.pk).prices == PRICES


def test_a_future_price_change_becomes_the_current_price_when_due(priced, admin_user, settings):
    change_at = floor_minute(timezone.now()) + dt.timedelta(minutes=30)
    price_list_create(user=admin_user, cluster=priced, prices=DOUBLED, effective_from=change_at)
    one_gpu = resources(gpus=1, cpu=0, memory_gib=0)
    priced.refresh_from_db()
    assert priced.prices == PRICES and estimate_hourly_cost(cluster=priced, resources=one_gpu) == Decimal("3.6")

    assert price_lists_apply_due(now=change_at - dt.timedelta(minutes=1)) == {"applied": 0}
    priced.refresh_from_db()
    assert priced.prices == PRICES

    assert price_lists_apply_due(now=change_at) == {"applied": 1}
    priced.refresh_from_db()
    assert priced.prices == DOUBLED and estimate_hourly_cost(cluster=priced, resources=one_gpu) == Decimal("7.2")
    assert price_lists_apply_due(now=change_at + dt.timedelta(minutes=1)) == {"applied": 0}  # nothing left to do
    assert "billing.apply_price_changes" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
