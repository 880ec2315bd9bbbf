import subprocess
import sys

import pytest
from django.core.management import call_command

from core import crypto
from core.crypto import DecryptionError, EncryptedJSONField, EncryptedTextField, decrypt, encrypt, generate_key


def test_encrypt_round_trips_and_hides_the_plaintext():
    token = encrypt("hunter2-is-my-password")
    assert "hunter2" not in token
    assert crypto.is_encrypted(token)
    assert decrypt(token) == "hunter2-is-my-password"


def test_each_encryption_uses_a_fresh_iv():
    assert encrypt("same") != encrypt("same")


def test_without_keys_a_key_derived_from_secret_key_is_used(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    token = encrypt("value")
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    with pytest.raises(DecryptionError):
        decrypt(token)


def test_first_key_encrypts_and_every_key_decrypts(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    old_token = encrypt("value")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    new_token = encrypt("value")
    assert decrypt(old_token) == decrypt(new_token) == "value"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt(new_token) == "value"
    with pytest.raises(DecryptionError):
        decrypt(old_token)


def test_reencrypt_moves_a_token_to_the_first_key(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt("value")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    rotated = crypto.reencrypt(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt(rotated) == "value"


def test_a_malformed_key_fails_the_system_check(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    errors = crypto.check_encryption_keys(None)
    assert [error.id for error in errors] == ["core.E001"]
    assert "generate_encryption_key" in errors[0].msg


def test_text_field_stores_a_token_and_loads_the_plaintext():
    field = EncryptedTextField()
    stored = field.get_prep_value("apiVersion: v1\nusers: [{token: abc}]")
    assert "abc" not in stored
    assert field.from_db_value(stored, None, None) == "apiVersion: v1\nusers: [{token: abc}]"
    assert field.get_prep_value(None) is None
    assert field.from_db_value(None, None, None) == ""


def test_json_field_stores_a_token_and_loads_the_value():
    field = EncryptedJSONField(default=dict)
    stored = field.get_prep_value({"api_key": "sk-123", "n": 2})
    assert "sk-123" not in stored
    assert field.from_db_value(stored, None, None) == {"api_key": "sk-123", "n": 2}
    assert field.from_db_value(None, None, None) == {}


def test_generate_encryption_key_prints_a_usable_key(settings, capsys):
    call_command("generate_encryption_key")
    key = capsys.readouterr().out.strip()
    settings.FIELD_ENCRYPTION_KEYS = [key]
    assert decrypt(encrypt("x")) == "x"


def test_production_settings_require_field_encryption_keys():
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "a-real-secret-" + "x" * 60,
        "ALLOWED_HOSTS": "foundry.example.com",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
