"""Warm pools: standby replicas are running jobs (their cost shows), and a wake that takes one starts in seconds."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from autoscaling.coldstart import StartModel
from autoscaling.models import WarmPool
from autoscaling.pooling import forecast_hour, pool_target, refill_s, wakes_together_wanted
from autoscaling.pools import pool_set, pools_resize, standby_jobs
from autoscaling.services import autoscale_all, deployment_autoscale, deployment_wake_up, policy_set
from autoscaling.tests.factories import rollups
from deployments.tests.factories import deploy
from jobs.models import Job

pytestmark = pytest.mark.django_db


def at_zero(deployment, user):
    policy_set(user=user, deployment=deployment, components={"llm": {"min_replicas": 0, "max_replicas": 2}})
    now = timezone.now()
    rollups(deployment=deployment, key="llm", end=now, minutes=12, replicas=1, requests=0)
    assert deployment_autoscale(deployment_id=deployment.pk, now=now)[0].direction == "to_zero"
    return now


@pytest.fixture
def two(templates, member_user, project, cluster):
    first = deploy(user=member_user, project=project, cluster=cluster, name="first", run=True)
    second = deploy(user=member_user, project=project, cluster=cluster, name="second", run=True)
    return first, second


def test_a_pool_makes_the_cold_start_shorter_and_refills(two, member_user, member_client, project, cluster):
    first, second = two
    gpu_type = first.components.get(key="llm", retired_at__isnull=True).resources["gpu_type"]
    answer = member_client.post(
        "/api/v1/warm-pools",
        {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": gpu_type, "size": 1},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["standby"] == 1 and float(body["hourly_cost"]) > 0  # the standby's cost is counted and shown
    pool = WarmPool.objects.get()
    [standby] = standby_jobs(pool)
    assert standby.status == Job.Status.RUNNING and standby.resources["gpu_type"] == gpu_type

    at_zero(first, member_user)
    at_zero(second, member_user)
    now = timezone.now() + timedelta(minutes=1)
    pooled = deployment_wake_up(user=member_user, deployment=first, now=now)["llm"]
    standby.refresh_from_db()
    assert pooled.pooled and standby.status == Job.Status.CANCELLED  # its GPUs went to the woken component
    assert standby_jobs(pool).count() == 1  # the pool started a new standby in its place
    cold = deployment_wake_up(user=member_user, deployment=second, now=now)["llm"]
    assert cold.pooled  # the second wake takes the new standby
    assert pooled.total_s < 30 and pooled.total_s == cold.total_s
    listed = member_client.get("/api/v1/warm-pools").json()
    assert listed["count"] == 1 and listed["results"][0]["standby"] == 1


def test_without_a_free_standby_the_wake_is_a_full_cold_start(two, member_user):
    first, _ = two
    at_zero(first, member_user)
    start = deployment_wake_up(user=member_user, deployment=first, now=timezone.now())["llm"]
    assert not start.pooled and start.total_s > 30


def test_pool_api_checks_fields_roles_and_tenants(
    templates,
    cluster,
    project,
    other_cluster,
    member_client,
    viewer_client,
    other_client,
    django_assert_max_num_queries,
):
    body = {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": "A100-80GB", "size": 2}
    bad = member_client.post("/api/v1/warm-pools", {**body, "gpu_type": "TPU", "size": 99}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"gpu_type", "size"}
    foreign = member_client.post("/api/v1/warm-pools", {**body, "cluster_id": str(other_cluster.pk)}, format="json")
    assert foreign.status_code == 400 and "cluster_id" in foreign.json()["errors"]
    assert viewer_client.post("/api/v1/warm-pools", body, format="json").status_code == 403
    created = member_client.post("/api/v1/warm-pools", body, format="json").json()
    assert created["standby"] == 2
    assert other_client.get(f"/api/v1/warm-pools/{created['id']}").status_code == 404
    assert other_client.get("/api/v1/warm-pools").json()["count"] == 0
    with django_assert_max_num_queries(6):
        assert member_client.get("/api/v1/warm-pools", {"gpu_type": "A100-80GB"}).json()["count"] == 1
    smaller = member_client.post("/api/v1/warm-pools", {**body, "size": 0}, format="json").json()
    assert smaller["standby"] == 0 and WarmPool.objects.count() == 1


def test_deleting_a_pool_stops_its_standbys(
    templates, cluster, project, member_client, viewer_client, other_client, django_assert_max_num_queries
):
    body = {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": "A100-80GB", "size": 2}
    created = member_client.post("/api/v1/warm-pools", body, format="json").json()
    pool = WarmPool.objects.get(pk=created["id"])
    standbys = list(standby_jobs(pool))
    assert len(standbys) == 2
    assert other_client.delete(f"/api/v1/warm-pools/{pool.pk}").status_code == 404
    assert viewer_client.delete(f"/api/v1/warm-pools/{pool.pk}").status_code == 403
    assert WarmPool.objects.filter(pk=pool.pk).exists()
    with django_assert_max_num_queries(44):  # ~20 per standby (each is a job cancel with its passes); at most 16
        assert member_client.delete(f"/api/v1/warm-pools/{pool.pk}").status_code == 204
    assert not WarmPool.objects.filter(pk=pool.pk).exists()
    for job in standbys:  # their GPUs freed and their cost stopped
        job.refresh_from_db()
        assert job.status == Job.Status.CANCELLED
    assert member_client.get(f"/api/v1/warm-pools/{pool.pk}").status_code == 404


def test_a_scale_up_takes_standbys_from_the_pool(two, member_user, project, cluster):
    first, _ = two
    gpu_type = first.components.get(key="llm", retired_at__isnull=True).resources["gpu_type"]
    pool = pool_set(user=member_user, cluster=cluster, project=project, gpu_type=gpu_type, size=1)
    [standby] = standby_jobs(pool)
    policy = {"min_replicas": 1, "max_replicas": 3, "signal": "slo_ttft", "target": 1.5}
    policy_set(user=member_user, deployment=first, components={"llm": policy})
    now = timezone.now()
    rollups(deployment=first, key="llm", end=now, minutes=3, replicas=1, ttft=1.8)
    [decision] = deployment_autoscale(deployment_id=first.pk, now=now)
    assert (decision.from_replicas, decision.to_replicas, decision.outcome) == (1, 2, "applied")
    standby.refresh_from_db()
    assert standby.status == Job.Status.CANCELLED  # its GPUs went to the new replica
    assert standby_jobs(pool).count() == 1  # and the pool refills
    assert "1 from the warm pool, ready in about" in decision.reason


@pytest.mark.parametrize(
    ("at_zero_now", "ratio", "floor", "ceiling", "wanted"),
    [(0, 1.0, 2, None, 0), (1, 0.25, 1, None, 1), (3, 0.5, 1, None, 2), (4, 0.5, 1, None, 2), (4, 1.0, 1, 3, 3)],
)
def test_the_pool_size_rule(at_zero_now, ratio, floor, ceiling, wanted):
    assert pool_target(at_zero_now, ratio=ratio, floor=floor, ceiling=ceiling) == wanted


def test_a_pool_sized_by_components_at_zero_follows_them(two, member_user, member_client, project, cluster):
    first, second = two
    gpu_type = first.components.get(key="llm", retired_at__isnull=True).resources["gpu_type"]
    body = {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": gpu_type, "size": 4}
    bad = member_client.post("/api/v1/warm-pools", {**body, "per_zero": "1.5", "min_size": -1}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"per_zero", "min_size"}
    created = member_client.post("/api/v1/warm-pools", {**body, "per_zero": "0.5"}, format="json").json()
    assert (created["per_zero"], created["wanted"], created["standby"]) == ("0.50", 0, 0)  # nothing at zero: free
    pool = WarmPool.objects.get()

    at_zero(first, member_user)
    at_zero(second, member_user)
    # Two at zero x 0.5: one standby, started by the autoscaler's beat pass after its decisions.
    assert autoscale_all(now=timezone.now()).standbys_changed == 1
    shown = member_client.get(f"/api/v1/warm-pools/{pool.pk}").json()
    assert (shown["wanted"], shown["standby"]) == (1, 1) and float(shown["hourly_cost"]) > 0

    now = timezone.now() + timedelta(minutes=1)
    assert deployment_wake_up(user=member_user, deployment=first, now=now)["llm"].pooled
    pools_resize()
    assert standby_jobs(pool).count() == 1  # one still at zero: the floor keeps one (the refill)
    assert deployment_wake_up(user=member_user, deployment=second, now=now)["llm"].pooled
    pools_resize()
    assert standby_jobs(pool).count() == 0  # nothing at zero: the pool stops costing
    assert member_client.get("/api/v1/warm-pools").json()["results"][0]["hourly_cost"] == "0.00"


def test_sizing_by_wakes_together_on_known_rates():
    # Four components at zero, each 3 requests in yesterday's hour (one every 20 minutes): 12 wakes an hour.
    night = [3.0] * 4
    model = StartModel()
    assert refill_s(model, image_cached=True) == 27 and refill_s(model, image_cached=False) == 75
    # Over a 27 s refill, P(2+ wakes) = 0.37% <= 1%: one standby left to take after the first wake, two in all.
    assert wakes_together_wanted(night, model=model, image_cached=True) == 2
    # A stricter miss, or a longer refill (the image pulled: P(2+ wakes in 75 s) = 2.8%), needs a third.
    assert wakes_together_wanted(night, model=model, image_cached=True, miss=0.001) == 3
    assert wakes_together_wanted(night, model=model, image_cached=False) == 3
    assert wakes_together_wanted(night, model=model, image_cached=False, ceiling=2) == 2
    assert wakes_together_wanted([0.0], model=model, image_cached=True, floor=1) == 1  # no history: the floor
    assert wakes_together_wanted([], model=model, image_cached=True) == 0  # nothing at zero: nothing kept
    # The forecast is the same clock hour yesterday.
    assert forecast_hour(10 * 86400 + 5 * 3600 + 1234) == (9 * 86400 + 5 * 3600, 9 * 86400 + 6 * 3600)


def test_the_beat_sizes_a_pool_by_the_wakes_expected_together(two, member_user, member_client, project, cluster):
    first, second = two
    gpu_type = first.components.get(key="llm", retired_at__isnull=True).resources["gpu_type"]
    body = {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": gpu_type, "size": 4}
    created = member_client.post("/api/v1/warm-pools", {**body, "sizing": "wakes_together"}, format="json")
    assert created.status_code == 201, created.json()
    shown = created.json()
    assert (shown["sizing"], shown["miss"], shown["wanted"]) == ("wakes_together", "0.010", 0)
    pool = WarmPool.objects.get()

    now = at_zero(first, member_user)
    at_zero(second, member_user)
    # Yesterday, in this clock hour, each took 8 requests: 16 wakes an hour together. No standby has run yet, so a
    # refill pulls the image (75 s): P(2+ wakes in 75 s) = 4.5%, P(3+) = 0.5%: three standbys (one per component:
    # two).
    start, _ = forecast_hour(now.timestamp())
    yesterday = datetime.fromtimestamp(start, tz=UTC) + timedelta(minutes=10)
    for deployment in (first, second):
        rollups(deployment=deployment, key="llm", end=yesterday, minutes=10, replicas=1, requests=0.8)
    expected = wakes_together_wanted([8.0, 8.0], model=StartModel(), image_cached=False, ceiling=4)
    assert expected == 3 and pool_target(2, ratio=1.0) == 2
    assert autoscale_all(now=timezone.now()).standbys_changed == 3
    assert standby_jobs(pool).count() == 3
    # A standby now runs on the type: the next refill finds the image cached (27 s), P(2+ wakes) = 0.7%: two.
    shown = member_client.get(f"/api/v1/warm-pools/{pool.pk}").json()
    assert (shown["wanted"], shown["standby"]) == (2, 3)
    pools_resize()
    assert standby_jobs(pool).count() == 2

    deployment_wake_up(user=member_user, deployment=first, now=now + timedelta(minutes=1))
    deployment_wake_up(user=member_user, deployment=second, now=now + timedelta(minutes=1))
    pools_resize()
    assert standby_jobs(pool).count() == 0  # nothing at zero: the pool stops costing


def test_pool_sizing_fields_are_checked_by_field(
    templates, cluster, project, member_client, other_client, django_assert_max_num_queries
):
    body = {"cluster_id": str(cluster.pk), "project_id": str(project.pk), "gpu_type": "A100-80GB", "size": 2}
    bad = member_client.post("/api/v1/warm-pools", {**body, "sizing": "guess", "miss": "0.9"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"sizing"}  # the serializer's choice first
    bad = member_client.post("/api/v1/warm-pools", {**body, "sizing": "wakes_together", "miss": "0.9"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"miss"}
    bad = member_client.post("/api/v1/warm-pools", {**body, "sizing": "per_zero"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"per_zero"}
    for gpu_type in ("A100-80GB", "L4", "H100-80GB"):
        sized = {**body, "gpu_type": gpu_type, "sizing": "wakes_together", "miss": "0.05"}
        assert member_client.post("/api/v1/warm-pools", sized, format="json").status_code == 201
    with django_assert_max_num_queries(9):  # the page, the standbys, at zero, yesterday's load, the last runs
        listed = member_client.get("/api/v1/warm-pools").json()
    assert listed["count"] == 3 and {row["miss"] for row in listed["results"]} == {"0.050"}
    assert other_client.get("/api/v1/warm-pools").json()["count"] == 0
    assert other_client.get(f"/api/v1/warm-pools/{listed['results'][0]['id']}").status_code == 404
