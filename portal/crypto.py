"""Encryption at rest for sensitive columns (Fernet, with key rotation through MultiFernet).

``settings.FIELD_ENCRYPTION_KEYS`` lists Fernet keys: the first encrypts, every one
decrypts, so a new key goes first and the old ones stay until ``rotate_field_keys`` ran.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from portal.validation import scrub_data

# A \uD800-\uDFFF escape in stored JSON text: a surrogate pair (json.dumps writes astral
# characters so) or a lone surrogate from before input was checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class FieldDecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


def _keys() -> list[str]:
    keys = [str(key).strip() for key in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or []]
    keys = [key for key in keys if key]
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set it to one or more Fernet keys "
            '(python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"), newest first.'
        )
    return keys


def fernet() -> MultiFernet:
    """The MultiFernet of the configured keys (read at each call, so settings overrides work)."""
    try:
        return MultiFernet([Fernet(key.encode()) for key in _keys()])
    except ValueError as error:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {error}"
        ) from error


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise FieldDecryptionError(
            "An encrypted field could not be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(wrong key, a key removed before rotate_field_keys ran, or a damaged value)."
        ) from error


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise FieldDecryptionError("A value could not be decrypted for rotation.") from error


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; plain text in Python, ciphertext in the database.

    The column cannot be searched or ordered by its value: keep a plain derived column
    (such as the last four digits) for lookups.
    """

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON value stored as one Fernet token: for copies of customer data elsewhere
    (form submissions), so that the database never holds them in clear either."""

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        text = decrypt(value)
        data = json.loads(text)
        if _SURROGATE_ESCAPE.search(text):
            # Rows stored before input was checked may hold lone surrogates, which no page
            # or JSON answer can encode: each reads back as U+FFFD.
            data = scrub_data(data)
        return data

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), cls=DjangoJSONEncoder)
