"""`manage.py deploy --autoscale llm=1:4`: the deployment starts with its own policy; a bad range makes nothing."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from autoscaling.selectors import effective_policies
from deployments.models import UseCaseDeployment

pytestmark = pytest.mark.django_db


def deploy(project, cluster, user, *extra) -> str:
    out = StringIO()
    call_command(
        "deploy", "simple-rag-v1", "--project", project.name, "--cluster", cluster.name, "--user", user.username,
        "--param", "model_id=meta-llama/Llama-3.1-8B-Instruct", *extra, stdout=out, stderr=StringIO(),
    )  # fmt: skip
    return out.getvalue()


def test_deploy_with_autoscale_sets_the_policy(templates, member_user, project, cluster):
    output = deploy(project, cluster, member_user, "--autoscale", "llm=0:4")
    assert "Autoscaling: llm 0-4 replicas." in output
    policy, source = effective_policies(UseCaseDeployment.objects.get())["llm"]
    assert (policy.min_replicas, policy.max_replicas, source) == (0, 4, "api")


@pytest.mark.parametrize("value", ["llm=4:1", "llm", "nope=1:2"])
def test_a_bad_range_is_refused_before_anything_is_made(templates, member_user, project, cluster, value):
    with pytest.raises(CommandError, match="--autoscale"):
        deploy(project, cluster, member_user, "--autoscale", value)
    assert not UseCaseDeployment.objects.exists()
