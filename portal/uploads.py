"""Uploads too large to keep in memory are spooled to disk encrypted, never as plaintext.

Django spools an uploaded file above ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to a named temporary
file in ``FILE_UPLOAD_TEMP_DIR`` for the duration of the request: a customer's statement or
passport would sit there in plaintext (and in the disk's free blocks after it is deleted)
before the portal stores it encrypted. ``EncryptedTemporaryFileUploadHandler`` replaces
Django's ``TemporaryFileUploadHandler``: the spool is an anonymous temporary file (no name
in the folder) written with AES-256 in counter mode under a random key that lives only in
this process's memory for this one upload, so what reaches the disk cannot be read
without the process. Reading decrypts, at any position (the parsers and the content check
seek), so the rest of the portal sees an ordinary uploaded file.

Counter mode without a MAC: the spool protects confidentiality at rest for the length of a
request; someone who can write to the temporary folder of the web server while a request
runs could alter the bytes, as they could Django's plaintext spool.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import IO, Any, cast

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

_BLOCK = 16


class EncryptedSpool(io.RawIOBase):
    """A seekable file whose bytes reach the disk encrypted (AES-256-CTR, a key per file).

    Written once, front to back (the upload), then read and sought freely."""

    def __init__(self, directory: str | None = None) -> None:
        super().__init__()
        self._raw = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in close()
        self._key = os.urandom(32)
        self._nonce = int.from_bytes(os.urandom(_BLOCK), "big")
        self._encryptor: Any = self._cipher(0).encryptor()
        self._size = 0
        self._position = 0

    def _cipher(self, block: int) -> Cipher[modes.CTR]:
        counter = ((self._nonce + block) % (1 << 128)).to_bytes(_BLOCK, "big")
        return Cipher(algorithms.AES(self._key), modes.CTR(counter))

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._position != self._size:
            raise io.UnsupportedOperation("An upload spool is written front to back only.")
        plain = bytes(data)
        self._raw.seek(self._size)
        self._raw.write(self._encryptor.update(plain))
        self._size += len(plain)
        self._position = self._size
        return len(plain)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        if wanted <= 0:
            return 0
        block, skip = divmod(self._position, _BLOCK)
        self._raw.seek(block * _BLOCK)
        sealed = self._raw.read(skip + wanted)
        plain = self._cipher(block).decryptor().update(sealed)[skip:]
        view[: len(plain)] = plain
        self._position += len(plain)
        return len(plain)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        if whence not in bases:
            raise ValueError(f"invalid whence ({whence})")
        base = bases[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        self._checkClosed()
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # anonymous: gone from the disk with its descriptor
            self._key = b""
            self._encryptor = None  # it holds the key too
        super().close()


class EncryptedTemporaryUploadedFile(UploadedFile):
    """An uploaded file spooled to an ``EncryptedSpool`` (no ``temporary_file_path``:
    storages copy it through ``chunks()``, which decrypts)."""

    def __init__(
        self,
        name: str | None,
        content_type: str | None,
        size: int,
        charset: str | None,
        content_type_extra: dict[str, Any] | None = None,
    ) -> None:
        self.spool = EncryptedSpool(settings.FILE_UPLOAD_TEMP_DIR)
        super().__init__(
            cast(IO[bytes], self.spool), name, content_type, size, charset, content_type_extra
        )

    def close(self) -> None:
        self.spool.close()


class EncryptedTemporaryFileUploadHandler(FileUploadHandler):
    """Django's ``TemporaryFileUploadHandler``, with the spool encrypted."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.file = EncryptedTemporaryUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.file.seek(0)
        self.file.size = file_size
        return self.file

    def upload_interrupted(self) -> None:
        if hasattr(self, "file"):
            self.file.close()
