import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.budget_services import budget_create, budgets_check
from billing.budgets import budget_statuses
from billing.metering import metering_pass
from billing.models import Budget, BudgetAlert
from billing.tests.test_costs import amount_of
from billing.tests.test_invoices import deployment_of
from billing.tests.test_metering import PRICES, ran
from core.exceptions import Conflict
from deployments import services
from deployments.models import DeploymentEvent, UseCaseDeployment
from deployments.tests.factories import SIMPLE_RAG_PARAMS, make_cluster
from deployments.tests.test_lifecycle import running
from jobs.tests.factories import ClusterFactory
from observability.models import Delivery, NotificationChannel
from observability.notify import payload
from templates_app.selectors import template_get_for_user
from tenancy.models import Project

NOW = dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC)  # 10 days into March; 21 days (504 h) left
HOURLY = Decimal("3.6") + 2 * Decimal("0.036") + 4 * Decimal("0.0036")  # 1 H100, 2 cores, 4 GiB


@pytest.fixture
def spending(tenant, project):
    """A job running since March began on 1 H100 (3.6864/h), metered up to NOW."""
    cluster = ClusterFactory(tenant=tenant, name="priced", prices=PRICES)
    ran(cluster, project, start=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    metering_pass(now=NOW + dt.timedelta(minutes=1))  # a running job's minute is metered once the next one began
    return cluster


@pytest.mark.django_db
def test_spent_burn_rate_and_forecast_of_project_and_tenant_budgets(spending, tenant, project, admin_user):
    budget = budget_create(user=admin_user, tenant=tenant, project=project, name="rag", amount=Decimal("1000"))
    whole = budget_create(user=admin_user, tenant=tenant, project=None, name="all", amount=Decimal("5000"))
    statuses = budget_statuses([budget, whole], now=NOW)
    status = statuses[budget.pk]
    assert status.spent == amount_of(project=project) == HOURLY * 240
    assert status.burn_per_hour == HOURLY
    assert status.forecast == HOURLY * 744  # the whole of March at this rate
    assert status.percent == Decimal("88.5") and status.reached == [80]
    assert statuses[whole.pk].spent == status.spent and statuses[whole.pk].reached == []


@pytest.mark.django_db
def test_alerts_at_80_and_100_percent_once_each_through_the_tenants_channels(spending, tenant, project, admin_user):
    NotificationChannel.objects.create(tenant=tenant, name="ops", kind="webhook", target={"url": "http://x.invalid"})
    NotificationChannel.objects.create(tenant=tenant, name="chat", kind="slack", target={"url": "http://y.invalid"})
    budget = budget_create(user=admin_user, tenant=tenant, project=project, name="rag-budget", amount=Decimal("1000"))
    assert budgets_check(now=NOW) == {"budgets": 1, "alerts": 1}
    assert budgets_check(now=NOW + dt.timedelta(minutes=5))["alerts"] == 0  # recorded once
    (alert,) = BudgetAlert.objects.filter(budget=budget)
    assert alert.threshold == 80 and alert.forecast == HOURLY * 744
    deliveries = list(Delivery.objects.select_related("channel").order_by("channel__name"))
    assert [(d.channel.name, d.event, d.status) for d in deliveries] == [
        ("chat", "budget_80", "pending"),
        ("ops", "budget_80", "pending"),
    ]
    assert "rag-budget" in payload(deliveries[0])["text"]
    webhook = payload(deliveries[1])
    assert webhook["threshold"] == 80 and webhook["budget"]["name"] == "rag-budget" and webhook["spent"] == "884.74"
    Budget.objects.filter(pk=budget.pk).update(amount=Decimal("800"))
    assert budgets_check(now=NOW)["alerts"] == 1
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [80, 100]


@pytest.mark.django_db
def test_hard_cap_refuses_new_deployments_and_scale_ups_naming_the_budget(
    templates, tenant, project, member_user, member_client, admin_user
):
    cluster = make_cluster(tenant=tenant)
    with time_machine.travel(NOW - dt.timedelta(hours=3), tick=False):
        deployment = running(member_user, project, cluster)
    metering_pass(now=NOW)
    budget_create(user=admin_user, tenant=tenant, project=project, name="Team RAG", amount=Decimal("0.50"))
    template = template_get_for_user(user=member_user, template_id="simple-rag-v1")
    with time_machine.travel(NOW, tick=False):
        # Over budget without the hard cap: alerts only, nothing refused.
        services.deployment_create(
            user=member_user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
        )
        Budget.objects.update(hard_cap=True)
        with pytest.raises(Conflict, match="Budget 'Team RAG' of the project is spent"):
            services.deployment_create(
                user=member_user, template=template, project=project, cluster=cluster, parameters=SIMPLE_RAG_PARAMS
            )
        body = {
            "template_id": "simple-rag-v1",
            "project_id": str(project.pk),
            "cluster_id": str(cluster.pk),
            "parameters": SIMPLE_RAG_PARAMS,
        }
        refused = member_client.post("/api/v1/deployments", body, format="json")
        assert refused.status_code == 409 and "Team RAG" in refused.json()["detail"]
        with pytest.raises(Conflict, match=r"Team RAG.*refuses scale-ups"):
            services.deployment_scale(user=member_user, deployment=deployment, scale={"llm": 2})
        refused = member_client.post(f"/api/v1/deployments/{deployment.pk}/scale", {"scale": {"llm": 2}}, format="json")
        assert refused.status_code == 409 and "Team RAG" in refused.json()["detail"]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_budget_api_crud_with_field_errors_roles_and_tenant_isolation(
    spending,
    tenant,
    project,
    other_project,
    admin_client,
    member_client,
    viewer_client,
    other_client,
    django_assert_max_num_queries,
):
    url = "/api/v1/budgets"
    # Budgets are a tenant admin's: a member (who could otherwise lift a hard cap on their own spending) reads them.
    body = {"project_id": str(project.pk), "name": "rag", "amount": "1000.00"}
    assert member_client.post(url, body, format="json").status_code == 403
    made = admin_client.post(url, {"project_id": str(project.pk), "name": "rag", "amount": "1000.00"}, format="json")
    assert made.status_code == 201, made.json()
    budget = made.json()
    assert budget["tenant_id"] == str(tenant.pk) and budget["hard_cap"] is False
    assert Decimal(budget["status"]["spent"]) == amount_of(project=project)  # metered so far this month (March)
    again = admin_client.post(url, {"project_id": str(project.pk), "name": "rag", "amount": "-1"}, format="json")
    assert again.status_code == 400 and {"amount"} <= set(again.json()["errors"])
    twice = admin_client.post(url, {"project_id": str(project.pk), "name": "rag", "amount": "5"}, format="json")
    assert twice.status_code == 400 and {"name", "project_id"} <= set(twice.json()["errors"])
    foreign = admin_client.post(url, {"project_id": str(other_project.pk), "name": "x", "amount": "5"}, format="json")
    assert foreign.status_code == 400 and "project_id" in foreign.json()["errors"]
    nothing = admin_client.post(url, {"name": "x", "amount": "5"}, format="json")
    assert nothing.status_code == 400 and "tenant_id" in nothing.json()["errors"]
    whole = {"tenant_id": str(tenant.pk), "name": "all", "amount": "9000", "hard_cap": True}
    assert admin_client.post(url, whole, format="json").status_code == 201
    assert viewer_client.post(url, {**whole, "name": "v"}, format="json").status_code == 403
    with django_assert_max_num_queries(8):
        listed = member_client.get(url, {"tenant_id": str(tenant.pk), "ordering": "name"})
    assert [b["name"] for b in listed.json()["results"]] == ["all", "rag"]
    assert member_client.get(url, {"tenant_wide": "true"}).json()["count"] == 1
    detail = f"{url}/{budget['id']}"
    patched = admin_client.patch(detail, {"amount": "20.00", "hard_cap": True}, format="json")
    assert patched.status_code == 200 and patched.json()["amount"] == "20.00" and patched.json()["status"]
    assert other_client.get(detail).status_code == 404
    assert other_client.patch(detail, {"amount": "1"}, format="json").status_code == 404
    assert other_client.get(url).json()["results"] == []
    assert viewer_client.delete(detail).status_code == 403
    assert member_client.delete(detail).status_code == 403
    assert other_client.delete(detail).status_code == 404
    assert admin_client.delete(detail).status_code == 204
    assert not Budget.objects.filter(pk=budget["id"]).exists()


@pytest.mark.django_db
def test_alerts_show_on_the_timeline_of_the_deployments_the_budget_covers(spending, tenant, project, admin_user):
    elsewhere = Project.objects.create(tenant=tenant, name="elsewhere")
    covered, other = deployment_of(project, spending, "rag-bot"), deployment_of(elsewhere, spending, "other-bot")
    gone = deployment_of(project, spending, "gone-bot")
    UseCaseDeployment.objects.filter(pk=gone.pk).update(status=UseCaseDeployment.Status.DELETED)
    budget_create(user=admin_user, tenant=tenant, project=project, name="rag-budget", amount=Decimal("1000"))
    budget_create(user=admin_user, tenant=tenant, project=None, name="all", amount=Decimal("900"))
    assert budgets_check(now=NOW)["alerts"] == 2  # the project's at 80%, the tenant's at 80% too (884.74 of 900)

    events = DeploymentEvent.objects.filter(kind=DeploymentEvent.Kind.BUDGET_ALERT)
    by_deployment = sorted((e.deployment.name, e.data["budget"]["name"], e.data["threshold"]) for e in events)
    assert by_deployment == [("other-bot", "all", 80), ("rag-bot", "all", 80), ("rag-bot", "rag-budget", 80)]
    (event,) = events.filter(deployment=covered, data__budget__name="rag-budget")
    assert event.message.startswith("Budget rag-budget at 80%: $884.74 of $1000.00") and event.data["spent"] == "884.74"
    assert not events.filter(deployment=gone).exists() and other.events.filter(kind="budget_alert").count() == 1
    assert budgets_check(now=NOW + dt.timedelta(minutes=5))["alerts"] == 0 and events.count() == 3  # once each
