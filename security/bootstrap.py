"""The demo admin's API token, printed by `make run` (the admin user itself comes from tenancy's step)."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model

from security.services import bootstrap_token_ensure


def bootstrap(*, stdout) -> dict:
    user = get_user_model().objects.filter(username=os.environ.get("ADMIN_USERNAME", "admin")).first()
    if user is None:
        return {}
    token = bootstrap_token_ensure(owner=user)
    return {"api_token": token or "(the bootstrap token was revoked; make one with manage.py create_api_token)"}
