"""Business errors raised by services; the API layer maps them to HTTP once (core.api.errors)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the errors a service raises on purpose."""

    status_code = 400
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, errors: dict | None = None):
        self.detail = detail or self.default_detail
        self.errors = errors or {}
        super().__init__(self.detail)


class ValidationError(ServiceError):
    """Input that breaks a business rule. `errors` maps field paths ("parameters.model_id") to messages."""

    status_code = 400
    default_detail = "Invalid input."

    def __init__(self, errors: dict | str | None = None, *, detail: str | None = None):
        if isinstance(errors, str):
            errors = {"non_field_errors": [errors]}
        normalised = {key: value if isinstance(value, list) else [value] for key, value in (errors or {}).items()}
        super().__init__(detail, errors=normalised)


class Conflict(ServiceError):
    """The request is valid but clashes with the current state (a change already running, a finished job)."""

    status_code = 409
    default_detail = "Conflict with the current state."


class NotFound(ServiceError):
    """The object does not exist or is not visible to the caller."""

    status_code = 404
    default_detail = "Not found."


class PermissionDenied(ServiceError):
    """The caller can see the object but lacks the role to change it."""

    status_code = 403
    default_detail = "You do not have permission to perform this action."


class IdempotencyMismatch(ServiceError):
    """An Idempotency-Key reused for a different request (another body, user or operation): refused, not replayed,
    as the IETF Idempotency-Key draft and Stripe answer it."""

    status_code = 422
    default_detail = "This Idempotency-Key was already used for a different request; use a new key for a new request."
