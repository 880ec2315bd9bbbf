"""Idempotent start-up: migrate, then each app's `bootstrap` step (demo data, catalog, templates, clusters).

An app takes part by defining `<app>/bootstrap.py` with `def bootstrap(*, stdout) -> dict`; the steps run in
INSTALLED_APPS order and return facts for the start-up banner (e.g. {"admin_username": ...}).
"""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import apps
from django.core.management import call_command


def run_bootstrap(*, stdout, migrate: bool = True) -> dict:
    """Bring a fresh or existing database to a working state; safe to run any number of times."""
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
    facts: dict = {}
    for config in apps.get_app_configs():
        module_name = f"{config.name}.bootstrap"
        if config.name == "core" or importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        facts.update(module.bootstrap(stdout=stdout) or {})
    return facts
