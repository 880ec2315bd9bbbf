"""The warm pools page: the pools with their sizing, wanted standbys and cost; the form creates or resizes one, its
errors beside the field; the same tenant and role rules as the API."""

import pytest

from autoscaling.models import WarmPool
from autoscaling.pools import pool_set, standby_jobs
from jobs.models import Job

pytestmark = pytest.mark.django_db


def form(cluster, project, **changes) -> dict:
    fields = {
        "gpu_type": "A100-80GB",
        "gpu_count": 1,
        "sizing": "wakes_together",
        "size": 4,
        "min_size": 1,
        "miss": "0.010",
    }
    return {"cluster": str(cluster.pk), "project": str(project.pk), **fields, "per_zero": "", **changes}


def test_the_pool_form_creates_a_pool_sized_by_wakes_and_shows_errors_beside_the_field(member_web, cluster, project):
    page = member_web.get("/warm-pools")
    assert page.status_code == 200 and b"No warm pools yet" in page.content
    assert b'data-testid="pool-form"' in page.content
    bad = member_web.post("/warm-pools", form(cluster, project, gpu_type="TPU", miss="0.9"))
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"gpu_type", "miss"} and not WarmPool.objects.exists()
    assert member_web.post("/warm-pools", form(cluster, project)).status_code == 302
    pool = WarmPool.objects.get()
    assert (pool.sizing, str(pool.miss), pool.size) == ("wakes_together", "0.010", 4)
    listed = member_web.get("/warm-pools")
    [row] = listed.context["rows"]
    assert row["wanted"] == 0 and row["standby"][0] == 0  # nothing at zero: no standby, no cost
    assert b"by the wakes expected together (miss 0.010" in listed.content


def test_readers_see_pools_but_no_form_and_other_tenants_see_nothing(
    member_user, viewer_web, other_web, cluster, project, django_assert_max_num_queries
):
    pool_set(user=member_user, cluster=cluster, project=project, gpu_type="L4", size=2, sizing="wakes_together")
    pool_set(user=member_user, cluster=cluster, project=project, gpu_type="A100-80GB", size=1)
    with django_assert_max_num_queries(16):
        page = viewer_web.get("/warm-pools")
    assert len(page.context["rows"]) == 2 and b'data-testid="pool-form"' not in page.content
    assert viewer_web.post("/warm-pools", form(cluster, project)).status_code == 403
    assert other_web.get("/warm-pools").context["rows"] == []
    foreign = other_web.post("/warm-pools", form(cluster, project))  # another tenant's cluster is not offered
    assert foreign.status_code in (400, 403) and WarmPool.objects.count() == 2


def test_a_writer_deletes_a_pool_from_the_page_and_its_standbys_stop(
    member_user, member_web, viewer_web, other_web, cluster, project
):
    pool = pool_set(user=member_user, cluster=cluster, project=project, gpu_type="A100-80GB", size=1)
    [standby] = standby_jobs(pool)
    assert f"/warm-pools/{pool.pk}/delete".encode() in member_web.get("/warm-pools").content
    assert b"/delete" not in viewer_web.get("/warm-pools").content
    assert other_web.post(f"/warm-pools/{pool.pk}/delete").status_code == 404
    assert viewer_web.post(f"/warm-pools/{pool.pk}/delete").status_code == 403
    assert member_web.get(f"/warm-pools/{pool.pk}/delete").status_code == 405
    answer = member_web.post(f"/warm-pools/{pool.pk}/delete", follow=True)
    assert answer.status_code == 200 and b"deleted; 1 standby(s) stopped" in answer.content
    assert not WarmPool.objects.exists()
    standby.refresh_from_db()
    assert standby.status == Job.Status.CANCELLED
