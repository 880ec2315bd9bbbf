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


def test_healthz_is_503_naming_the_database_when_it_is_down(client, db, monkeypatch):
    from django.db import connection
    from django.db.utils import load_backend

    from core import views

    # A real connection to a database that is not there: nothing listens on port 1, and no SQLite file can be made
    # in a directory that does not exist.
    settings_dict = {**connection.settings_dict, "NAME": "/nonexistent/healthz/db.sqlite3", "HOST": "127.0.0.1"}
    settings_dict.update(PORT=1, CONN_MAX_AGE=0)
    broken = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias="healthz-broken")
    monkeypatch.setattr(views, "connection", broken)
    response = client.get("/healthz")
    broken.close()
    assert response.status_code == 503
    body = response.json()
    assert body["database"].startswith("OperationalError")
    assert body["broker"] == "ok"
    assert body["status"] == "unavailable"


def test_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert b"/api/v1/projects" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_api_docs_load_swagger_ui_from_local_static_files(client, db):
    import re

    from django.conf import settings
    from django.contrib.staticfiles import finders

    page = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
    assert {asset.rsplit("/", 1)[-1] for asset in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), asset  # no CDN
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), f"{asset} is not a local static file"


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
        "FIELD_ENCRYPTION_KEYS": "i6h1kUq0Y8p1o9JwQx3n3oVQe2f5mD8m1oQyTnq3x2A=",
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
    # The printed key works, and it is not stored in clear.
    from rest_framework.test import APIClient

    from security.models import ApiToken

    client = APIClient(HTTP_AUTHORIZATION=f"Token {first['api_token']}")
    assert client.get("/api/v1/projects").status_code == 200
    assert not ApiToken.objects.filter(digest=first["api_token"]).exists()
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    assert Tenant.objects.filter(name="Demo").count() == 1
    assert Project.objects.filter(tenant__name="Demo").count() == 1
    assert Membership.objects.get(user__username="admin", tenant__name="Demo").role == "admin"
