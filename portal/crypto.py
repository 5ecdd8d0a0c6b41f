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
import time
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
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
    """``token`` re-encrypted with the first key (a value under a data key is left as it is:
    rotating ``FIELD_ENCRYPTION_KEYS`` re-wraps the data keys, ``DataKey.wrapped``)."""
    if token.startswith(DATA_KEY_PREFIX):
        return token
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise FieldDecryptionError("A value could not be decrypted for rotation.") from error


# Per-subject data keys (crypto-shredding) -------------------------------------------------
#
# A customer's values are encrypted under a data key of their own (``portal.models.DataKey``),
# itself stored wrapped (encrypted) by FIELD_ENCRYPTION_KEYS. Such a value is stored as
# ``dk1:<data key id>:<Fernet token>``. Erasure destroys the data key: every copy of those
# values — in the tables, in backups, replicas and WAL — becomes unreadable, while the rows
# that hold them (and the audit trail's hashes) stay as they are. A model opts in by
# defining ``personal_data_key_id()`` (the id of the data key its row is encrypted under, or
# None for the project keys); its encrypted fields then encrypt under that key on save.

DATA_KEY_PREFIX = "dk1:"
ERASED = "[erased]"
# How long a process keeps an unwrapped data key: an erasure reaches every other process
# within this many seconds (the erasing process forgets the key at once).
DATA_KEY_CACHE_SECONDS = 5.0
# (data key id, the project keys it was unwrapped with) -> (when, key or None if destroyed)
_data_keys: dict[tuple[int, tuple[str, ...]], tuple[float, Fernet | None]] = {}
_DATA_KEY_CACHE_LIMIT = 10_000  # keys kept at most (then all are dropped and read again)


class DataKeyDestroyed(ValidationError):
    """A value was to be stored under a data key that erasure destroyed."""


def data_key_new() -> str:
    """A new data key (``DataKey.wrapped`` stores it encrypted by the project keys)."""
    return Fernet.generate_key().decode()


def data_keys_forget(key_id: int | None = None) -> None:
    """Drop this process's unwrapped copy of one data key (or of all)."""
    for cached in list(_data_keys):
        if key_id is None or cached[0] == key_id:
            _data_keys.pop(cached, None)


def _data_key(key_id: int, *, lock: bool = False) -> Fernet | None:
    """The unwrapped data key ``key_id``, or None when erasure destroyed it.

    ``lock`` (to encrypt): read its row ``FOR SHARE`` when in a transaction, never from the
    cache, so an erasure (which locks it ``FOR UPDATE`` first) waits for writers that are
    storing values under it, and a writer that comes after sees it destroyed.
    """
    now = time.monotonic()
    slot = (key_id, tuple(_keys()))
    cached = _data_keys.get(slot)
    fresh = cached is not None and (cached[1] is None or now - cached[0] < DATA_KEY_CACHE_SECONDS)
    if cached is not None and fresh and not lock:
        return cached[1]  # a destroyed key never comes back: remembered for good
    in_transaction = connection.in_atomic_block
    sql = "SELECT wrapped, destroyed_at FROM portal_datakey WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql + (" FOR SHARE" if lock and in_transaction else ""), [key_id])
        row = cursor.fetchone()
    if row is None:  # never a lawful erasure: a destroyed key keeps its row
        raise FieldDecryptionError(
            f"Data key {key_id} does not exist (the data-key table restored from an older "
            "backup than the data, or a damaged value)."
        )
    key = None
    if row[0] and row[1] is None:
        key = cached[1] if cached is not None and cached[1] is not None else None
        key = key or Fernet(decrypt(row[0]).encode())
    elif in_transaction:
        return None  # destroyed in this transaction perhaps, which may still roll back
    if len(_data_keys) >= _DATA_KEY_CACHE_LIMIT:
        _data_keys.clear()
    _data_keys[slot] = (now, key)
    return key


def encrypt_for(key_id: int, value: str) -> str:
    """``value`` encrypted under the data key ``key_id``."""
    key = _data_key(key_id, lock=True)
    if key is None:
        raise DataKeyDestroyed(
            "This customer's personal data was erased: nothing more can be stored about them."
        )
    return f"{DATA_KEY_PREFIX}{key_id}:{key.encrypt(value.encode()).decode()}"


def data_key_of(token: str) -> int | None:
    """The data key a stored value is encrypted under (None: the project keys)."""
    if not token.startswith(DATA_KEY_PREFIX):
        return None
    key_id, _, _ = token[len(DATA_KEY_PREFIX) :].partition(":")
    return int(key_id) if key_id.isdigit() else None


def decrypt_stored(token: str) -> str | None:
    """The plaintext of a stored value, under a data key or the project keys; None when its
    data key was destroyed (the value was erased)."""
    if not token.startswith(DATA_KEY_PREFIX):
        return decrypt(token)
    key_id, _, rest = token[len(DATA_KEY_PREFIX) :].partition(":")
    if not key_id.isdigit():
        raise FieldDecryptionError("A value under a data key is damaged (no key id).")
    key = _data_key(int(key_id))
    if key is None:
        return None
    try:
        return key.decrypt(rest.encode()).decode()
    except InvalidToken as error:
        raise FieldDecryptionError(
            f"A value under data key {key_id} could not be decrypted (a damaged value)."
        ) from error


def encrypted_fields(model: type[models.Model]) -> list[Any]:
    """``model``'s encrypted columns."""
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField | EncryptedJSONField)
    ]


def encrypted_field_names(model: type[models.Model]) -> list[str]:
    return [field.name for field in encrypted_fields(model)]


class _Sealed(str):
    """A value ``pre_save`` already encrypted under its row's data key."""

    __slots__ = ()


def _sealed(instance: models.Model, text: str) -> _Sealed | None:
    key_of = getattr(instance, "personal_data_key_id", None)
    key_id = key_of() if callable(key_of) else None
    return None if key_id is None else _Sealed(encrypt_for(key_id, text))


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

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value is None or value == "" or isinstance(value, _Sealed):
            return value
        return _sealed(model_instance, str(value)) or value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, _Sealed):
            return str(value)
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        text = decrypt_stored(value)
        return ERASED if text is None else text


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

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value is None or isinstance(value, _Sealed):
            return value
        return _sealed(model_instance, self._dumps(value)) or value

    @staticmethod
    def _dumps(value: Any) -> str:
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, _Sealed):
            return str(value)
        if value is None:
            return None
        return encrypt(self._dumps(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        text = decrypt_stored(value)
        if text is None:  # erased: an empty value of the field's shape
            return self.get_default()
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
