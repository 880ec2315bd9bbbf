"""The catalog's industry spellings: one read shared by the services, the admin and the industry filter."""

from __future__ import annotations

from usecases import caching
from usecases.models import UseCase
from usecases.validation import industry_key


def industry_spellings() -> dict[str, str]:
    """industry_key -> the spelling stored in the catalog (deleted use cases included)."""

    def compute():
        names = UseCase.objects.order_by("industry").values_list("industry", flat=True).distinct()
        spellings: dict[str, str] = {}
        for name in names:
            spellings.setdefault(industry_key(name), name)
        return spellings

    return caching.aggregate("industry_spellings", compute)
