import subprocess
import sys

import pytest

from core.api.errors import flatten_errors


def test_healthz_reports_database_and_broker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}


def test_healthz_is_503_naming_the_broker_when_it_is_down(client, db):
    from config.celery_app import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert "Error" in body["broker"]
    assert body["status"] == "unavailable"


def test_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert b"/api/v1/projects" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_admin_login_page_is_served(client, db):
    assert client.get("/admin/login/").status_code == 200


def test_flatten_errors_gives_dotted_paths():
    assert flatten_errors({"resources": {"gpu_count": ["bad"]}, "items": [{}, {"x": ["y"]}]}) == {
        "resources.gpu_count": ["bad"],
        "items.1.x": ["y"],
    }


def test_production_settings_pass_deploy_check():
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "a-real-secret-" + "x" * 60,
        "ALLOWED_HOSTS": "foundry.example.com",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_bootstrap_is_idempotent():
    from io import StringIO

    from django.contrib.auth import get_user_model

    from core.bootstrap import run_bootstrap
    from tenancy.models import Membership, Project, Tenant

    first = run_bootstrap(stdout=StringIO(), migrate=False)
    second = run_bootstrap(stdout=StringIO(), migrate=False)
    assert first["api_token"] == second["api_token"]
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    assert Tenant.objects.filter(name="Demo").count() == 1
    assert Project.objects.filter(tenant__name="Demo").count() == 1
    assert Membership.objects.get(user__username="admin", tenant__name="Demo").role == "admin"
