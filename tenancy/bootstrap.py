"""Demo data for the embedded default: an admin user, a demo tenant and project (its API token: security)."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model

from tenancy.models import Membership, Project, Tenant

DEMO_TENANT = "Demo"
DEMO_PROJECT = "default"


def bootstrap(*, stdout) -> dict:
    User = get_user_model()
    username = os.environ.get("ADMIN_USERNAME", "admin")
    password = os.environ.get("ADMIN_PASSWORD", "admin")
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True, "email": f"{username}@example.com"}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    tenant, _ = Tenant.objects.get_or_create(name=DEMO_TENANT)
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Membership.Role.ADMIN})
    project, _ = Project.objects.get_or_create(tenant=tenant, name=DEMO_PROJECT)
    stdout.write(f"tenancy: user {username!r}, tenant {tenant.name!r}, project {project.name!r}")
    return {
        "admin_username": username,
        "admin_password": password if created else "(unchanged since first start)",
        "tenant_id": str(tenant.pk),
        "project_id": str(project.pk),
    }
