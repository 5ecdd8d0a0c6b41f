"""Files encrypted at rest, in the configured file storage (local disk, Azure Blob, S3).

``EncryptedStorage`` writes every file through ``portal.crypto.encrypt_chunks``
(the ``FIELD_ENCRYPTION_KEYS`` of the encrypted columns, in 64 KiB segments, so that memory
stays flat whatever the size) and ``open()`` returns the plaintext, read as it is served.
Use it for any ``FileField`` holding personal data::

    file = models.FileField(upload_to=..., storage=encrypted_storage)

and keep what a page needs on the row (the original name encrypted, the plaintext size and
SHA-256): ``size()`` and ``path()`` are those of the encrypted file, and ``url()`` is
refused (nothing serves ``MEDIA_ROOT`` or hands out a blob's URL; a view checks who may read
the file and streams ``open()``). The encrypted file is stored in ``STORAGES["default"]``
(``STORAGE_BACKEND``: ``MEDIA_ROOT``, Azure Blob Storage or S3), so that web processes and
workers on several machines share it. A file stored before its field used this storage
is plaintext: ``open()`` still reads it, and ``encrypt_stored_files`` (``manage.py
encrypt_stored_files``, also run by ``rotate_field_keys``) encrypts it under a new name.
Each such field is found by itself (``encrypted_file_fields``), like the encrypted columns.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import BinaryIO, cast

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import models, transaction
from django.utils.deconstruct import deconstructible

from portal.crypto import (
    FILE_MAGIC,
    SEGMENT_BYTES,
    DecryptingReader,
    encrypt_chunks,
    is_encrypted_file,
)

# Encrypted files wait here on their way to the storage: memory up to this size, then a
# temporary file (ciphertext only: the plaintext never reaches the disk).
_SPOOL_BYTES = 4 * 1024 * 1024


@deconstructible(path="portal.storage.EncryptedFileSystemStorage")
class EncryptedStorage(Storage):
    """Files encrypted at rest in the configured file storage (``STORAGES["default"]``:
    ``MEDIA_ROOT``, Azure Blob Storage or S3, ``STORAGE_BACKEND``)."""

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        # A folder of its own (tests, tools), else the default storage.
        self._inner = FileSystemStorage(location=location) if location is not None else None

    @property
    def inner(self) -> Storage:
        """Where the encrypted files are: the default storage (read at each use, so that a
        settings change in a test or a command applies)."""
        return self._inner or storages["default"]

    def _save(self, name: str, content: File) -> str:
        chunks = encrypt_chunks(content.chunks())  # the keys are checked before the file is made
        spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed below
            max_size=_SPOOL_BYTES, dir=settings.FILE_UPLOAD_TEMP_DIR
        )
        try:
            for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            return self.inner.save(name, File(spool, name))
        finally:
            spool.close()

    def _open(self, name: str, mode: str = "rb") -> File:
        if mode not in ("r", "rb"):
            raise ValueError("Encrypted files are opened to read only; save a new file instead.")
        handle = self.inner.open(name, "rb")
        try:
            encrypted = is_encrypted_file(handle.read(len(FILE_MAGIC)))
            handle.seek(0)
            if not encrypted:  # stored before encryption: read as it is until encrypted
                return File(handle, name)
            reader = DecryptingReader(cast(BinaryIO, handle))
        except BaseException:
            handle.close()
            raise
        # No name: FileResponse must not take the encrypted file's size for the plaintext's.
        return File(io.BufferedReader(reader, buffer_size=SEGMENT_BYTES))

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def size(self, name: str) -> int:
        return self.inner.size(name)  # of the encrypted file; the row keeps the plaintext's

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self.inner.listdir(path)

    def path(self, name: str) -> str:
        return self.inner.path(name)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self.inner.get_available_name(name, max_length=max_length)

    def get_modified_time(self, name: str) -> datetime:
        return self.inner.get_modified_time(name)

    def url(self, name: str | None) -> str:
        raise NotImplementedError(
            "Encrypted files have no URL: serve them from a view that checks who may read them."
        )

    def is_encrypted(self, name: str) -> bool:
        with self.inner.open(name, "rb") as handle:
            return is_encrypted_file(handle.read(len(FILE_MAGIC)))

    @property
    def replaces_in_place(self) -> bool:
        """Whether ``reencrypt`` can swap a file atomically (local disk); elsewhere a
        re-encrypted file is written under a new name (``encrypt_stored_files``)."""
        return isinstance(self.inner, FileSystemStorage)

    def reencrypt(self, name: str) -> None:
        """Encrypt the stored file ``name`` again with the first key (in place, atomically:
        local disk only, ``replaces_in_place``)."""
        with self.open(name) as plain:
            self._replace(name, encrypt_chunks(plain.chunks()))

    def _replace(self, name: str, chunks: Iterator[bytes]) -> None:
        inner = cast(FileSystemStorage, self.inner)
        target = inner.path(name)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".rekey-")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if inner.file_permissions_mode is not None:
                os.chmod(temporary, inner.file_permissions_mode)
            else:
                os.chmod(temporary, os.stat(target).st_mode & 0o777)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise


# The name the migrations know it by.
EncryptedFileSystemStorage = EncryptedStorage
encrypted_storage = EncryptedStorage()


def encrypted_file_fields() -> list[tuple[type[models.Model], models.FileField]]:
    """Every concrete ``FileField`` of an installed model whose storage encrypts."""
    return [
        (model, column)
        for model in apps.get_models()
        for column in model._meta.concrete_fields
        if isinstance(column, models.FileField) and isinstance(column.storage, EncryptedStorage)
    ]


@dataclass
class FileCounts:
    encrypted: int = 0  # plaintext files encrypted now (under a new name)
    rotated: int = 0  # encrypted files re-encrypted with the first key
    already: int = 0  # encrypted files left as they were
    missing: list[str] = field(default_factory=list)  # names whose file is not there


def encrypt_stored_files(
    model: type[models.Model], file_field: models.FileField, *, rotate: bool
) -> FileCounts:
    """Encrypt the plaintext files of ``model.file_field``; with ``rotate``, re-encrypt the
    encrypted ones with the first key too. Idempotent; safe to run while the portal serves.

    A plaintext file is written encrypted under a new name from the field's ``upload_to``
    (old names may hold the uploader's file name), the row then points at it, and the
    plaintext file is deleted.
    """
    storage = cast(EncryptedStorage, file_field.storage)
    counts = FileCounts()
    rows = model._base_manager.exclude(**{file_field.attname: ""}).order_by("pk")
    for instance in rows.iterator(chunk_size=500):
        name = str(getattr(instance, file_field.attname))
        if not storage.exists(name):
            counts.missing.append(name)
            continue
        encrypted = storage.is_encrypted(name)
        if encrypted and not rotate:
            counts.already += 1
            continue
        if encrypted and storage.replaces_in_place:
            storage.reencrypt(name)
            counts.rotated += 1
            continue
        with storage.open(name) as plain:
            new_name = storage.save(
                file_field.generate_filename(instance, PurePath(name).name), plain
            )
        with transaction.atomic():
            updated = model._base_manager.filter(
                pk=instance.pk, **{file_field.attname: name}
            ).update(**{file_field.attname: new_name})
        if updated:
            storage.delete(name)
            if encrypted:
                counts.rotated += 1
            else:
                counts.encrypted += 1
        else:  # the row changed meanwhile: keep its file, drop the copy
            storage.delete(new_name)
    return counts


# --- the configured storage ----------------------------------------------------------------


def file_storage_status(create: bool = False) -> dict[str, object]:
    """Whether the configured file storage (``STORAGES["default"]``) is there and private:
    the Azure container or S3 bucket exists (``create``: make the container, private, when
    it does not) and lets no anonymous reader in. Raises ``ImproperlyConfigured`` with
    what is wrong."""
    inner = storages["default"]
    backend = settings.STORAGE_BACKEND
    if isinstance(inner, FileSystemStorage):
        os.makedirs(inner.location, exist_ok=True)
        return {"ok": os.access(inner.location, os.W_OK), "backend": "local"}
    if backend == "azure":
        client = inner.client  # type: ignore[attr-defined]
        if not client.exists():
            if not create:
                raise ImproperlyConfigured(
                    f"The Azure container {client.container_name!r} does not exist: "
                    "run manage.py storage_check --create."
                )
            client.create_container()  # private: no public access given
        access = client.get_container_properties().public_access
        if access:
            raise ImproperlyConfigured(
                f"The Azure container {client.container_name!r} allows public read access "
                f"({access}): set it to private; the portal serves every file itself."
            )
        return {"ok": True, "backend": "azure"}
    inner.bucket.meta.client.head_bucket(Bucket=inner.bucket_name)  # type: ignore[attr-defined]
    return {"ok": True, "backend": backend}
