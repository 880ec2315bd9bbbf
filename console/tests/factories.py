"""Deployments for console tests, made through the same service the API and the wizard call."""

from __future__ import annotations

from deployments import reconciler, services
from deployments.tests.factories import SIMPLE_RAG_PARAMS
from templates_app.selectors import template_get_for_user


def deploy(*, user, project, cluster, template_id: str = "simple-rag-v1", name: str = "", run: bool = False):
    """A deployment of a system template; `run=True` reconciles it once (RUNNING on a zero start-up cluster)."""
    template = template_get_for_user(user=user, template_id=template_id)
    deployment, _ = services.deployment_create(
        user=user, template=template, project=project, cluster=cluster, parameters=dict(SIMPLE_RAG_PARAMS), name=name
    )
    if run:
        reconciler.deployment_reconcile(deployment_id=deployment.pk)
        deployment.refresh_from_db()
    return deployment
