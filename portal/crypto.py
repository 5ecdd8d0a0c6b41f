"""Encryption at rest for sensitive columns (Fernet, with key rotation through MultiFernet).

``settings.FIELD_ENCRYPTION_KEYS`` lists Fernet keys: the first encrypts, every one
decrypts, so a new key goes first and the old ones stay until ``rotate_field_keys`` ran.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import struct
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import lookups

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


def _not_searchable(field: models.Field[Any, Any], lookup: str) -> FieldError:
    return FieldError(
        f"{field.model.__name__}.{field.name} is encrypted at rest: it cannot be searched or "
        f"filtered in SQL ({field.name}__{lookup}; each value is a token with a random IV). "
        "Filter on a plain column, or compare in Python after a plain filter."
    )


class _EmptyExact(lookups.Exact):
    """``= ''``, the one comparison an encrypted text column answers (empty stays empty)."""

    def get_prep_lookup(self) -> Any:
        if self.rhs != "":
            raise _not_searchable(self.lhs.output_field, "exact")
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; plain text in Python, ciphertext in the database.

    The column cannot be searched or ordered by its value: keep a plain derived column
    (such as the last four digits) for lookups. A lookup other than ``isnull`` or ``= ''``
    raises ``FieldError`` (it would silently match nothing: the value is encrypted again,
    with a new IV, to compare).
    """

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return _EmptyExact
        raise _not_searchable(self, lookup_name)

    def get_transform(self, name: str) -> Any:
        raise _not_searchable(self, name)

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
    (form submissions, assistant messages), so that the database never holds them in clear
    either. Only ``isnull`` may be looked up in SQL (others raise ``FieldError``)."""

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise _not_searchable(self, lookup_name)

    def get_transform(self, name: str) -> Any:
        raise _not_searchable(self, name)

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


# Files ----------------------------------------------------------------------------------
#
# A file is encrypted as a sequence of segments (STREAM-like), so that neither writing nor
# serving it holds the whole file in memory:
#
#   FILE_MAGIC, 16-byte file id,
#   then per segment: 4-byte big-endian length, the Fernet token (raw bytes, not base64)
#   of  file id + 8-byte segment index + 1-byte "last" flag + up to SEGMENT_BYTES of data.
#
# Each segment is a Fernet token of the same FIELD_ENCRYPTION_KEYS (first key encrypts, any
# decrypts). The file id, index and flag inside every token make reordered, dropped,
# repeated, truncated or spliced (from another file) segments fail to decrypt.

# 0x89 never starts text (not UTF-8), a PDF or a ZIP (Word): a stored plaintext file from
# before encryption is told apart by its first bytes.
FILE_MAGIC = b"\x89PORTAL-ENC\x01\r\n"
SEGMENT_BYTES = 64 * 1024
_FILE_ID_BYTES = 16
_SEGMENT_HEAD = struct.Struct(">QB")  # index, last
_LENGTH = struct.Struct(">I")
# A Fernet token adds 57 bytes and up to 16 of padding; anything longer is damage.
_MAX_TOKEN_BYTES = _FILE_ID_BYTES + _SEGMENT_HEAD.size + SEGMENT_BYTES + 128


def is_encrypted_file(head: bytes) -> bool:
    """Whether bytes read from the start of a stored file begin an encrypted file."""
    return head.startswith(FILE_MAGIC)


def encrypt_chunks(chunks: Iterable[bytes | str]) -> Iterator[bytes]:
    """The encrypted file of ``chunks`` (plaintext pieces of any size), piece by piece.

    The keys are read now: a missing or invalid key raises here, before anything is written.
    """
    keys = fernet()
    file_id = os.urandom(_FILE_ID_BYTES)

    def segment(index: int, last: bool, data: bytes) -> bytes:
        token = keys.encrypt(file_id + _SEGMENT_HEAD.pack(index, last) + data)
        raw = base64.urlsafe_b64decode(token)
        return _LENGTH.pack(len(raw)) + raw

    def generate() -> Iterator[bytes]:
        yield FILE_MAGIC + file_id
        buffer = bytearray()
        index = 0
        for chunk in chunks:
            buffer += chunk.encode() if isinstance(chunk, str) else chunk
            # Strictly more than a segment: the last segment is never empty unless the file is.
            while len(buffer) > SEGMENT_BYTES:
                yield segment(index, False, bytes(buffer[:SEGMENT_BYTES]))
                del buffer[:SEGMENT_BYTES]
                index += 1
        yield segment(index, True, bytes(buffer))

    return generate()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = stream.read(size - len(data))
        if not piece:
            break
        data += piece
    return data


def _damaged(what: str) -> FieldDecryptionError:
    return FieldDecryptionError(f"An encrypted file could not be decrypted: {what}.")


def decrypt_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The plaintext of the encrypted file read from ``stream``, segment by segment.

    The header and the first segment are checked when this is called (a wrong key or a
    damaged file raises ``FieldDecryptionError`` before anything is served); a later damaged
    segment raises when it is reached.
    """
    keys = fernet()
    head = _read_exactly(stream, len(FILE_MAGIC) + _FILE_ID_BYTES)
    if not is_encrypted_file(head) or len(head) < len(FILE_MAGIC) + _FILE_ID_BYTES:
        raise _damaged("not an encrypted file")
    file_id = head[len(FILE_MAGIC) :]

    def segment(index: int) -> tuple[bytes, bool]:
        length = _read_exactly(stream, _LENGTH.size)
        if len(length) < _LENGTH.size:
            raise _damaged("it ends too early")
        (size,) = _LENGTH.unpack(length)
        if size > _MAX_TOKEN_BYTES:
            raise _damaged("a segment is too long")
        raw = _read_exactly(stream, size)
        if len(raw) < size:
            raise _damaged("it ends too early")
        try:
            plain = keys.decrypt(base64.urlsafe_b64encode(raw))
        except InvalidToken as error:
            raise FieldDecryptionError(
                "An encrypted file could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS (wrong key, a key removed before rotate_field_keys "
                "ran, or a damaged file)."
            ) from error
        start = _FILE_ID_BYTES + _SEGMENT_HEAD.size
        seen_index, last = _SEGMENT_HEAD.unpack(plain[_FILE_ID_BYTES:start])
        if plain[:_FILE_ID_BYTES] != file_id or seen_index != index:
            raise _damaged("its segments are out of place")
        if last and stream.read(1):
            raise _damaged("it goes on after its last segment")
        return plain[start:], bool(last)

    first, last = segment(0)

    def generate() -> Iterator[bytes]:
        data, done, index = first, last, 0
        while True:
            if data:
                yield data
            if done:
                return
            index += 1
            data, done = segment(index)

    return generate()


def encrypt_bytes(data: bytes) -> bytes:
    """``data`` as an encrypted file (in memory; ``encrypt_chunks`` streams)."""
    return b"".join(encrypt_chunks([data]))


def decrypt_bytes(data: bytes) -> bytes:
    """The plaintext of an encrypted file held in memory."""
    return b"".join(decrypt_chunks(io.BytesIO(data)))


class DecryptingReader(io.RawIOBase):
    """A read-only, non-seekable file object over the plaintext of an encrypted file.

    It has no ``name``: nothing (such as ``FileResponse``'s Content-Length) can mistake the
    size of the encrypted file on disk for the size of its plaintext.
    """

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._chunks = decrypt_chunks(stream)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
