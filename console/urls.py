"""The web console's pages. Paths take an optional trailing slash, as the API's do."""

from django.urls import re_path

from console.views import (
    alert_config,
    alerts,
    audit,
    autoscaling,
    budgets,
    catalog,
    costs,
    deployments,
    home,
    invoices,
    jobs,
    keys,
    lifecycle,
    pools,
    prices,
    quota_forms,
    quotas,
    registry,
    slo_io,
)

app_name = "console"

TEMPLATE_ID = r"(?P<template_id>[A-Za-z0-9_-]+)"
UUID = r"(?P<pk>[0-9a-fA-F-]{36})"
RULE = r"(?P<rule_id>[0-9a-fA-F-]{36})"


def page(route: str, view, name: str):
    return re_path(rf"^{route}/?$", view, name=name)


urlpatterns = [
    re_path(r"^$", home.home, name="home"),
    page("usecases", catalog.template_list_page, "usecases"),
    page(f"usecases/deploy/{TEMPLATE_ID}", catalog.deploy_wizard, "deploy"),
    page(f"usecases/deploy/{TEMPLATE_ID}/preview", catalog.deploy_preview, "deploy-preview"),
    page(f"usecases/{TEMPLATE_ID}", catalog.template_detail_page, "usecase-detail"),
    page("deployments", deployments.deployment_list_page, "deployments"),
    page(f"deployments/{UUID}", deployments.deployment_detail_page, "deployment-detail"),
    page(f"deployments/{UUID}/live", deployments.deployment_live, "deployment-live"),
    page(f"deployments/{UUID}/metrics", deployments.deployment_metrics, "deployment-metrics"),
    page(f"deployments/{UUID}/delete", deployments.deployment_delete_page, "deployment-delete"),
    page(f"deployments/{UUID}/update", lifecycle.deployment_update_page, "deployment-update"),
    page(f"deployments/{UUID}/scale", lifecycle.deployment_scale_page, "deployment-scale"),
    page(f"deployments/{UUID}/autoscaling", autoscaling.deployment_autoscaling_page, "deployment-autoscaling"),
    page(f"deployments/{UUID}/rollback", lifecycle.deployment_rollback_page, "deployment-rollback"),
    page(f"deployments/{UUID}/cancel-change", lifecycle.deployment_cancel_change_page, "deployment-cancel-change"),
    page(f"deployments/{UUID}/keys", keys.deployment_keys_page, "deployment-keys"),
    page(
        rf"deployments/{UUID}/keys/(?P<key_id>[0-9a-fA-F-]{{36}})/(?P<verb>rotate|revoke)",
        keys.deployment_key_action,
        "deployment-key-action",
    ),
    page(r"jobs/(?P<job_id>[0-9a-fA-F-]{36})", jobs.job_detail_page, "job-detail"),
    page("warm-pools", pools.warm_pool_list_page, "warm-pools"),
    page(r"warm-pools/(?P<pool_id>[0-9a-fA-F-]{36})/delete", pools.warm_pool_delete_page, "warm-pool-delete"),
    page("quotas", quotas.quota_list_page, "quotas"),
    page(r"quotas/(?P<queue_id>[0-9a-fA-F-]{36})", quotas.quota_queue_page, "quota-queue"),
    page(r"quotas/(?P<queue_id>[0-9a-fA-F-]{36})/edit", quota_forms.queue_edit_page, "quota-queue-edit"),
    page(r"quotas/(?P<queue_id>[0-9a-fA-F-]{36})/delete", quota_forms.queue_delete_page, "quota-queue-delete"),
    page(
        r"quotas/(?P<queue_id>[0-9a-fA-F-]{36})/local/(?P<local_id>[0-9a-fA-F-]{36})/delete",
        quota_forms.local_queue_delete_page,
        "local-queue-delete",
    ),
    page("components", registry.component_list_page, "components"),
    page(r"components/(?P<component_id>[A-Za-z0-9_-]+)", registry.component_detail_page, "component-detail"),
    page("slo", registry.slo_list_page, "slo"),
    page("audit", audit.audit_list_page, "audit"),
    page("alerts", alerts.alert_list_page, "alerts"),
    page(r"alerts/(?P<pk>[0-9]+)/acknowledge", alerts.alert_acknowledge_page, "alert-acknowledge"),
    page(r"alerts/(?P<pk>[0-9]+)/silence", alerts.alert_silence_page, "alert-silence"),
    page(f"deployments/{UUID}/alert-rules", alert_config.alert_rules_page, "deployment-alert-rules"),
    page(f"deployments/{UUID}/alert-rules/{RULE}", alert_config.alert_rule_edit_page, "deployment-alert-rule"),
    page(
        f"deployments/{UUID}/alert-rules/{RULE}/delete",
        alert_config.alert_rule_delete_page,
        "deployment-alert-rule-delete",
    ),
    page("channels", alert_config.channel_list_page, "channels"),
    page(r"channels/(?P<channel_id>[0-9a-fA-F-]{36})", alert_config.channel_edit_page, "channel"),
    page(r"channels/(?P<channel_id>[0-9a-fA-F-]{36})/delete", alert_config.channel_delete_page, "channel-delete"),
    page("costs", costs.cost_explorer_page, "costs"),
    page("budgets", budgets.budget_list_page, "budgets"),
    page("invoices", invoices.invoice_list_page, "invoices"),
    page(f"invoices/{UUID}", invoices.invoice_detail_page, "invoice-detail"),
    page(f"invoices/{UUID}/finalise", invoices.invoice_finalise_page, "invoice-finalise"),
    page("price-lists", prices.price_list_page, "price-lists"),
    page("slo/export", slo_io.slo_export, "slo-export"),
    page("slo/import", slo_io.slo_import, "slo-import"),
    page(r"slo/(?P<unique_id>[A-Za-z0-9_-]+)", registry.slo_detail_page, "slo-detail"),
]
