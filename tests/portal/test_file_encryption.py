"""Files encrypted at rest: the segment format (portal.crypto) and the storage (portal.storage)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import TemporaryUploadedFile

from portal.crypto import (
    FILE_MAGIC,
    SEGMENT_BYTES,
    DecryptingReader,
    FieldDecryptionError,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    encrypt_chunks,
    is_encrypted_file,
)
from portal.storage import EncryptedFileSystemStorage

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
SECRET = b"Jane Q. Customer, tax id 123-45-6789. "


@pytest.fixture(autouse=True)
def _one_key(settings: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]


def _segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the raw segments (length prefix included) of an encrypted file."""
    start = len(FILE_MAGIC) + 16
    header, rest, segments = blob[:start], blob[start:], []
    while rest:
        (size,) = struct.unpack(">I", rest[:4])
        segments.append(rest[: 4 + size])
        rest = rest[4 + size :]
    return header, segments


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES + 5]
)
def test_round_trip_at_segment_edges(size: int) -> None:
    data = (SECRET * (size // len(SECRET) + 1))[:size]
    blob = encrypt_bytes(data)
    assert is_encrypted_file(blob)
    if size:
        assert SECRET[:16] not in blob
    assert decrypt_bytes(blob) == data
    # Any chunking of the input gives the same plaintext back.
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert decrypt_bytes(b"".join(encrypt_chunks(pieces))) == data
    # The reader gives the same bytes, whatever the read size.
    reader = io.BufferedReader(DecryptingReader(io.BytesIO(blob)))
    assert b"".join(iter(lambda: reader.read(777), b"")) == data


def test_text_files_pdf_and_zip_are_not_taken_for_encrypted_ones() -> None:
    for head in (b"%PDF-1.7", b"PK\x03\x04", b"# Title", "é".encode(), b""):
        assert not is_encrypted_file(head)


def test_every_kind_of_damage_is_refused() -> None:
    data = os.urandom(2 * SEGMENT_BYTES + 10)  # three segments
    blob = encrypt_bytes(data)
    header, segments = _segments(blob)
    assert len(segments) == 3
    other_header, other_segments = _segments(encrypt_bytes(data))
    damaged = {
        "truncated (last segment dropped)": header + b"".join(segments[:2]),
        "cut in a segment": blob[:-10],
        "reordered": header + segments[1] + segments[0] + segments[2],
        "repeated": header + segments[0] + segments[0] + segments[1] + segments[2],
        "spliced from another file": header + segments[0] + other_segments[1] + segments[2],
        "another file's header": other_header + b"".join(segments),
        "trailing bytes": blob + b"x",
        "a flipped bit": blob[:100] + bytes([blob[100] ^ 1]) + blob[101:],
        "not encrypted": b"%PDF-1.4 plain",
    }
    for what, bad in damaged.items():
        try:
            decrypt_bytes(bad)
        except FieldDecryptionError:
            continue
        pytest.fail(f"{what}: decrypted")


def test_a_wrong_key_fails_before_anything_is_read(settings: Any) -> None:
    blob = encrypt_bytes(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    with pytest.raises(FieldDecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        decrypt_chunks(io.BytesIO(blob))  # raises when called, not when iterated
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # an old key still decrypts
    assert decrypt_bytes(blob) == SECRET


@pytest.fixture
def storage(tmp_path: Path) -> EncryptedFileSystemStorage:
    return EncryptedFileSystemStorage(location=tmp_path)


def test_storage_writes_ciphertext_and_reads_plaintext(
    storage: EncryptedFileSystemStorage, tmp_path: Path
) -> None:
    name = storage.save("a/file", ContentFile(SECRET * 5000))
    on_disk = (tmp_path / name).read_bytes()
    assert SECRET not in on_disk and b"123-45-6789" not in on_disk
    assert storage.is_encrypted(name)
    with storage.open(name) as plain:
        assert plain.read() == SECRET * 5000
    with pytest.raises(NotImplementedError):
        storage.url(name)
    with pytest.raises(ValueError, match="read only"):
        storage.open(name, "wb")


def test_a_large_upload_is_encrypted_not_moved(
    storage: EncryptedFileSystemStorage, tmp_path: Path
) -> None:
    """A file over FILE_UPLOAD_MAX_MEMORY_SIZE arrives as a temporary file, which the plain
    storage would move into place as it is."""
    upload = TemporaryUploadedFile("big.pdf", "application/pdf", 0, None)
    upload.write(SECRET * 80_000)  # 3 MB
    upload.flush()
    upload.size = len(SECRET) * 80_000
    name = storage.save("big", upload)
    assert os.path.exists(upload.temporary_file_path())
    assert SECRET not in (tmp_path / name).read_bytes()
    with storage.open(name) as plain:
        assert plain.read() == SECRET * 80_000
    upload.close()


def test_plaintext_files_still_read_and_reencrypt_rotates(
    storage: EncryptedFileSystemStorage, tmp_path: Path, settings: Any
) -> None:
    (tmp_path / "old.pdf").write_bytes(b"%PDF-1.4 " + SECRET)
    assert not storage.is_encrypted("old.pdf")
    with storage.open("old.pdf") as plain:
        assert plain.read() == b"%PDF-1.4 " + SECRET
    storage.reencrypt("old.pdf")  # plaintext: encrypted in place
    assert storage.is_encrypted("old.pdf")
    name = storage.save("new", ContentFile(SECRET))
    before = (tmp_path / name).read_bytes()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    storage.reencrypt(name)
    storage.reencrypt("old.pdf")
    assert (tmp_path / name).read_bytes() != before
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key is gone
    with storage.open(name) as plain:
        assert plain.read() == SECRET
    with storage.open("old.pdf") as plain:
        assert plain.read() == b"%PDF-1.4 " + SECRET
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rekey-")] == []
