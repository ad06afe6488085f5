"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet, so keys rotate cleanly.

`CREDENTIALS_KEYS` holds several keys: the first encrypts, all decrypt; `manage.py rotate_credentials_key`
re-encrypts every stored value with the first. Without configured keys (development, tests) one key is
derived from SECRET_KEY; production settings refuse to start without CREDENTIALS_KEYS.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _multi(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = base64.urlsafe_b64encode(hashlib.sha256(f"credentials:{secret_key}".encode()).digest())
        keys = (derived.decode(),)
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def fernet() -> MultiFernet:
    return _multi(tuple(settings.CREDENTIALS_KEYS), settings.SECRET_KEY)


def encrypt(value: dict) -> str:
    return fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt(token: str) -> dict:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ValueError("credentials cannot be decrypted with any configured key") from None


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A dict stored as a Fernet token. The column never holds plaintext; the attribute is always a dict."""

    if TYPE_CHECKING:  # what the Django type plugin reads for the attribute's type (TextField's is str)
        _pyi_private_set_type: dict[str, Any]  # type: ignore[assignment]
        _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else {}

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        return decrypt(value) if value else {}

    def get_prep_value(self, value):
        return encrypt(value or {})


def encrypted_fields() -> list[tuple[type[models.Model], models.Field]]:
    """The one registry of encrypted columns: every EncryptedJSONField of every installed model, found from the
    models themselves, so a new encrypted field is covered by key rotation (and its test) without being listed."""
    from django.apps import apps

    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedJSONField)
    ]
