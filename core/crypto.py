"""Secrets at rest: Fernet encryption with keys from the environment, and model fields that use it.

The whole API (other apps store credentials with it):

    from core.crypto import EncryptedTextField, EncryptedJSONField, encrypt, decrypt

    class Cluster(models.Model):
        kubeconfig = EncryptedTextField(blank=True)    # str in Python, a Fernet token in the database

    token = encrypt("s3cret")     # str -> Fernet token (str); a new random IV each call
    decrypt(token)                # -> "s3cret"; raises DecryptionError for a token no configured key opens

Keys: settings.FIELD_ENCRYPTION_KEYS, from the environment variable of the same name (comma-separated Fernet keys,
`manage.py generate_encryption_key` makes one). The first key encrypts; every key decrypts (MultiFernet), so a
new key is put first, `manage.py rotate_encryption_key` re-encrypts every encrypted field with it, and the old key
is dropped afterwards. With no keys configured (development, `make run`) one key is derived from SECRET_KEY;
production settings refuse to start without FIELD_ENCRYPTION_KEYS.

Encrypted fields hold ciphertext, so they cannot be filtered, ordered or indexed by value.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction

# Every Fernet token starts with version byte 0x80, which is "gAAAAA" in URL-safe base64.
TOKEN_PREFIX = "gAAAAA"


class DecryptionError(Exception):
    """A stored value that no configured key can decrypt (wrong or missing key, or corrupted data)."""


def derived_key(secret: str) -> str:
    """A Fernet key derived from `secret` (the development default, from SECRET_KEY)."""
    digest = hashlib.sha256(b"usecase-foundry field encryption\x00" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> list[str]:
    """The keys in use, first one encrypting: FIELD_ENCRYPTION_KEYS, or one derived from SECRET_KEY."""
    keys = [key.strip() for key in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [] if key.strip()]
    return keys or [derived_key(settings.SECRET_KEY)]


@functools.lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64-encoded bytes); "
            "make one with `manage.py generate_encryption_key`."
        ) from exc


def _fernet() -> MultiFernet:
    # Keyed on the current settings, so a changed setting (tests, a rotation) takes effect at once.
    return _multifernet(tuple(configured_keys()))


def generate_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode()


def encrypt(plaintext: str) -> str:
    """`plaintext` encrypted with the first configured key, as a URL-safe text token."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token made by `encrypt`, with whichever configured key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(was the key that encrypted it removed?)."
        ) from exc


def reencrypt(token: str) -> str:
    """The same plaintext encrypted with the first configured key (key rotation); the token must decrypt."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS.") from exc


def is_encrypted(value) -> bool:
    """Whether `value` looks like a Fernet token (used by migrations that encrypt existing clear values)."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


class EncryptedField(models.TextField):
    """Base of the encrypted fields: the column is text holding a Fernet token; Python sees the plaintext.

    `rotate_encryption_key` finds every concrete field of this class and re-encrypts it.
    """

    def to_plain(self, value):
        raise NotImplementedError

    def from_plain(self, value) -> str:
        raise NotImplementedError

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return self.empty_value()
        return self.to_plain(decrypt(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(self.from_plain(value))

    def empty_value(self):
        return ""

    def get_internal_type(self) -> str:
        return "TextField"


class EncryptedTextField(EncryptedField):
    """A string stored encrypted (kubeconfigs, webhook secrets, API keys)."""

    def to_plain(self, value: str) -> str:
        return value

    def from_plain(self, value) -> str:
        return str(value)

    def to_python(self, value):
        return value if value is None else str(value)


class EncryptedJSONField(EncryptedField):
    """A JSON value (e.g. a dict of secret parameters) stored encrypted as one token."""

    def to_plain(self, value: str):
        return json.loads(value)

    def from_plain(self, value) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def empty_value(self):
        return self.get_default() if self.has_default() else None

    def to_python(self, value):
        return value

    def formfield(self, **kwargs):
        return models.JSONField().formfield(**{"required": not self.blank, **kwargs})

    def value_to_string(self, obj):
        return self.from_plain(self.value_from_object(obj))


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """FIELD_ENCRYPTION_KEYS must parse as Fernet keys: a typo is caught at start-up, not at the first secret."""
    try:
        _fernet()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="core.E001")]
    return []


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedField]]:
    """Every concrete encrypted field of every installed model."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedField) and field.model is model
    ]


def rotate_encrypted_fields(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored encrypted value with the first configured key; returns counts per field.

    Each row is read (decrypted with whichever key opens it) and written back (encrypted with the first key) in
    one transaction per field, so a failure leaves every value readable with the configured keys.
    """
    counts: dict[str, int] = {}
    for model, field in encrypted_fields():
        manager = model._default_manager
        with transaction.atomic():
            rows = manager.exclude(**{f"{field.attname}__isnull": True}).values_list("pk", field.attname)
            count = 0
            for pk, value in rows.iterator(chunk_size=batch_size):
                manager.filter(pk=pk).update(**{field.attname: value})
                count += 1
        counts[f"{model._meta.label}.{field.name}"] = count
    return counts


def _transform_column(model, field_name: str, schema_editor, transform) -> None:
    meta = model._meta
    quote = schema_editor.quote_name
    table, column, pk = quote(meta.db_table), quote(meta.get_field(field_name).column), quote(meta.pk.column)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")
        for pk_value, value in cursor.fetchall():
            new_value = transform(value)
            if new_value != value:
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", [new_value, pk_value])


def encrypt_column(model, field_name: str, schema_editor) -> None:
    """Migration helper: encrypt the clear values left in a column that has just become an encrypted field."""
    _transform_column(model, field_name, schema_editor, lambda value: value if is_encrypted(value) else encrypt(value))


def decrypt_column(model, field_name: str, schema_editor) -> None:
    """Migration helper (the reverse of `encrypt_column`): put the clear values back before the field reverts."""
    _transform_column(model, field_name, schema_editor, lambda value: decrypt(value) if is_encrypted(value) else value)
