"""Start-up step: load the shipped catalog (fixtures/usecases.json) when the catalog is empty."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from usecases import services
from usecases.models import UseCase

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "usecases.json"


def bootstrap(*, stdout) -> dict:
    if not UseCase.objects.exists():
        report = services.usecases_import(data=json.loads(FIXTURE.read_text(encoding="utf-8")))
        stdout.write(f"usecases: imported {report['created']} use cases from {FIXTURE.name}")
    count = UseCase.objects.filter(is_active=True).count()
    return {"usecases": count}
