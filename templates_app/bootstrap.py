"""Start-up step: sync the system components and templates from YAML (idempotent)."""

from __future__ import annotations

from templates_app.seeding import seed_templates


def bootstrap(*, stdout) -> dict:
    result = seed_templates()
    stdout.write(result.components.summary("components"))
    stdout.write(result.templates.summary("templates"))
    for problem in [*result.warnings, *result.errors]:
        stdout.write(f"templates: {problem}")
    return {"system_templates": len(result.templates.created + result.templates.updated + result.templates.unchanged)}
