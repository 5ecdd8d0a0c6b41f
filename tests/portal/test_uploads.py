"""portal/uploads.py: a large upload is spooled to disk encrypted, and reads back whole."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from portal.uploads import EncryptedSpool, EncryptedTemporaryFileUploadHandler


def _raw_bytes(spool: EncryptedSpool) -> bytes:
    raw = spool._raw
    raw.flush()
    return Path(f"/proc/self/fd/{raw.fileno()}").read_bytes()


def test_the_spool_reaches_the_disk_encrypted_and_reads_back_at_any_position(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)  # noqa: S311 - test data positions, not secrets
    marker = b"IBAN DE89 3704 0044 0532 0130 00 - Jane Canary, passport X1234567\n"
    plain = marker * 3000 + os.urandom(50_001)
    spool = EncryptedSpool(str(tmp_path))
    written = 0
    while written < len(plain):  # pieces of odd sizes, as a multipart parser hands them over
        size = rng.randint(1, 70_000)
        assert spool.write(memoryview(plain[written : written + size])) == len(
            plain[written : written + size]
        )
        written += size
    assert list(tmp_path.iterdir()) == []  # anonymous: no name in the folder
    on_disk = _raw_bytes(spool)
    assert len(on_disk) == len(plain)
    assert b"Jane Canary" not in on_disk and b"IBAN" not in on_disk
    spool.seek(0)
    assert spool.read() == plain
    for _ in range(200):
        start = rng.randint(0, len(plain))
        length = rng.randint(0, 5000)
        assert spool.seek(start) == start
        assert spool.read(length) == plain[start : start + length]
    assert spool.seek(-10, io.SEEK_END) == len(plain) - 10
    assert spool.read(100) == plain[-10:]
    assert spool.read(1) == b""
    buffered = io.BufferedReader(spool)  # what io wrappers (text, zip) put around it
    buffered.seek(12_345)
    assert buffered.read(7) == plain[12_345:12_352]
    spool.seek(5)
    with pytest.raises(io.UnsupportedOperation):
        spool.write(b"x")  # written front to back only
    with pytest.raises(ValueError, match="negative"):
        spool.seek(-1)
    with pytest.raises(ValueError, match="whence"):
        spool.seek(0, 7)
    spool.close()
    assert spool.closed
    with pytest.raises(ValueError, match="closed"):
        spool.seek(0)


def test_two_spools_of_the_same_bytes_differ_on_disk(tmp_path: Path) -> None:
    a, b = EncryptedSpool(str(tmp_path)), EncryptedSpool(str(tmp_path))
    a.write(b"same text" * 100)
    b.write(b"same text" * 100)
    assert _raw_bytes(a) != _raw_bytes(b)  # a key per upload
    a.close()
    b.close()


def test_the_handler_is_django_s_fallback_for_large_files(settings: object) -> None:
    assert settings.FILE_UPLOAD_HANDLERS == [  # type: ignore[attr-defined]
        "django.core.files.uploadhandler.MemoryFileUploadHandler",
        "portal.uploads.EncryptedTemporaryFileUploadHandler",
    ]
    handler = EncryptedTemporaryFileUploadHandler()
    handler.new_file("file", "a.pdf", "application/pdf", 0, None, None)
    handler.receive_data_chunk(b"%PDF-1.4 ", 0)
    handler.receive_data_chunk(b"rest", 9)
    uploaded = handler.file_complete(13)
    assert uploaded.size == 13 and uploaded.name == "a.pdf"
    assert b"".join(uploaded.chunks()) == b"%PDF-1.4 rest"
    assert not hasattr(uploaded, "temporary_file_path")  # storages copy it by chunks()
    handler.upload_interrupted()
    assert uploaded.spool.closed  # type: ignore[attr-defined]
