"""Masking secret values in JSON-like data: one mask and one rule for plans, responses, stored change sets and the
audit trail."""

from __future__ import annotations

SECRET_MASK = "********"


def mask_secrets(value, secrets: list[str]):
    """`value` (JSON-like) with every occurrence of the given secret values replaced by the mask."""
    secrets = sorted({str(secret) for secret in secrets if secret not in (None, "")}, key=len, reverse=True)
    return _mask(value, secrets) if secrets else value


def _mask(value, secrets: list[str]):
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, SECRET_MASK)
        return value
    if isinstance(value, dict):
        return {key: _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value
