"""Money in responses: a Decimal with MONEY_PLACES places, written as a string ("3.1600"), everywhere the API,
the console and the command line show an amount or an hourly cost."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MONEY_PLACES = 4
MONEY_STEP = Decimal(1).scaleb(-MONEY_PLACES)  # 0.0001, the unit a job's cost accrues by


def money(value) -> Decimal:
    """An amount rounded half-up to MONEY_PLACES places (None counts as zero)."""
    return Decimal(str(value if value not in (None, "") else 0)).quantize(MONEY_STEP, rounding=ROUND_HALF_UP)


def money_text(value) -> str:
    return str(money(value))


def money_map(values: dict) -> dict:
    """{key: amount} with every amount as money text (hourly cost per component, a plan's before/after/delta)."""
    return {key: money_text(value) for key, value in values.items()}
