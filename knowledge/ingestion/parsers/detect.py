"""Which format an upload is: the declared type (MIME type, else extension) checked
against the content's magic bytes, so a renamed or mislabelled file is refused up front."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

from .common import ParseError, corrupt, decode_text, mismatch
from .docx import DOCX, check_zip_directory
from .markdown import MARKDOWN
from .pdf import PDF
from .registry import BY_CONTENT_TYPE, EXTENSIONS, MIME_ALIASES, UNSUPPORTED_MESSAGE
from .text import TEXT

# Generic types say nothing about the format, so the extension decides (then magic bytes check).
_UNSPECIFIC_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/zip",
        "application/x-zip-compressed",
    }
)
_MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})

_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCX_MAIN_PART = "word/document.xml"
_BINARY_SNIFF_BYTES = 8192


def detect_content_type(filename: str, data: bytes, claimed: str | None = None) -> str:
    """The content type of an upload, checked against its magic bytes; raises ParseError."""
    content_type = _declared_type(filename, claimed)
    if not data:
        raise ParseError("empty", "The file is empty.")
    _check_magic(content_type, data)
    return content_type


def _declared_type(filename: str, claimed: str | None) -> str:
    extension = PurePath(filename or "").suffix.lower()
    mime = (claimed or "").split(";", 1)[0].strip().lower()
    if mime in _UNSPECIFIC_TYPES:
        mime = EXTENSIONS.get(extension, "")
    mime = MIME_ALIASES.get(mime, mime)
    if mime == TEXT and extension in _MARKDOWN_EXTENSIONS:
        # Many browsers label .md uploads text/plain; Markdown is the more useful reading.
        mime = MARKDOWN
    if mime not in BY_CONTENT_TYPE:
        subject = f"“{PurePath(filename).name}”" if filename else "This file"
        raise ParseError("unsupported", f"{subject} {UNSUPPORTED_MESSAGE}")
    return mime


def _check_magic(content_type: str, data: bytes) -> None:
    """Binary formats are recognised by their magic bytes; every other format is text."""
    if content_type == PDF:
        if not _looks_like_pdf(data):
            raise _mismatch(content_type, _describe_content(data, "a PDF"))
    elif content_type == DOCX:
        _check_docx_container(data)
    else:
        _check_text(content_type, data)


def _looks_like_pdf(data: bytes) -> bool:
    # PDF readers accept a header anywhere in the first KB (some generators prepend junk).
    return _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]


def _check_docx_container(data: bytes) -> None:
    if not data.startswith(_ZIP_MAGIC):
        if data.startswith(_OLE_MAGIC):
            raise _mismatch(DOCX, "an older Word (.doc) file; save it as .docx and upload it again")
        raise _mismatch(DOCX, _describe_content(data, "a Word (.docx) document"))
    check_zip_directory(data)  # before zipfile reads the directory
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise corrupt(BY_CONTENT_TYPE[DOCX]) from exc
    if _DOCX_MAIN_PART not in names:
        raise _mismatch(DOCX, "a ZIP archive without a Word document inside (another format?)")


def _check_text(content_type: str, data: bytes) -> None:
    if data.startswith((_PDF_MAGIC, _ZIP_MAGIC)):
        raise _mismatch(content_type, _describe_content(data, "text"))
    if b"\x00" in data[:_BINARY_SNIFF_BYTES] or decode_text(data) is None:
        raise _mismatch(
            content_type, "binary data or text in an unsupported encoding (save it as UTF-8)"
        )


def _describe_content(data: bytes, expected: str) -> str:
    """What the content seems to be instead, for the mismatch message."""
    if data.startswith(_PDF_MAGIC):
        return "a PDF"
    if data.startswith(_ZIP_MAGIC):
        return "a ZIP archive (perhaps a Word or other Office document)"
    return expected if expected.startswith("not ") else f"not {expected}"


def _mismatch(content_type: str, content: str) -> ParseError:
    return mismatch(BY_CONTENT_TYPE[content_type], content)
