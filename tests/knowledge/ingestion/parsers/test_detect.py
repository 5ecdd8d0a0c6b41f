"""Detecting an upload's content type: declared type, extension and magic bytes."""

from __future__ import annotations

import io
import zipfile

import pytest

from knowledge.ingestion.parsers import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
    ParseError,
    detect_content_type,
)
from tests.knowledge.ingestion.parsers.samples import make_docx, make_pdf, reason_of


@pytest.mark.parametrize(
    ("filename", "claimed", "expected"),
    [
        ("guide.pdf", None, PDF),
        ("guide.PDF", "application/octet-stream", PDF),
        ("notes.bin", "application/pdf", PDF),
        ("page.htm", None, HTML),
        ("page.html", "text/html; charset=utf-8", HTML),
        ("readme.md", "", MARKDOWN),
        ("readme.markdown", "text/x-markdown", MARKDOWN),
        ("notes.txt", None, TEXT),
        ("readme.md", "text/html", HTML),
        ("readme.md", "text/plain", MARKDOWN),
        ("notes.txt", "text/plain; charset=utf-8", TEXT),
    ],
)
def test_detect_content_type_for_text_like_files(
    filename: str, claimed: str | None, expected: str
) -> None:
    data = make_pdf([["Hi"]]) if expected == PDF else b"# Hello\n\nSome text."
    assert detect_content_type(filename, data, claimed) == expected


def test_detect_docx() -> None:
    assert detect_content_type("fees.docx", make_docx()) == DOCX
    assert detect_content_type("fees.docx", make_docx(), "application/x-zip-compressed") == DOCX
    assert detect_content_type("fees.docx", make_docx(), DOCX) == DOCX


def test_detect_pdf_header_after_leading_junk() -> None:
    assert detect_content_type("a.pdf", b"\r\n" * 10 + make_pdf([["Hi"]])) == PDF


def test_detect_accepts_utf8_bom_and_cp1252_text() -> None:
    assert detect_content_type("a.txt", "\ufeffcafé".encode()) == TEXT
    assert (
        detect_content_type(
            "a.txt", "na\u00efve \u201cquotes\u201d \u2013 \u00a35".encode("cp1252")
        )
        == TEXT
    )


@pytest.mark.parametrize(
    ("filename", "claimed"),
    [("sheet.xlsx", None), ("a.pdf", "application/vnd.ms-excel"), ("noextension", None)],
)
def test_unsupported_types(filename: str, claimed: str | None) -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type(filename, b"PK\x03\x04 data", claimed)
    assert reason_of(excinfo) == "unsupported"
    assert "Supported: PDF, Word (.docx), HTML, Markdown, plain text." in str(excinfo.value)


def test_empty_upload() -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("a.txt", b"")
    assert reason_of(excinfo) == "empty"
    assert str(excinfo.value) == "The file is empty."


def test_pdf_claimed_as_docx_is_a_mismatch() -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("fees.docx", make_pdf([["Hi"]]))
    assert reason_of(excinfo) == "type_mismatch"
    assert str(excinfo.value).startswith("The file claims to be a Word document but")


def test_docx_claimed_as_pdf_is_a_mismatch() -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("fees.pdf", make_docx())
    assert reason_of(excinfo) == "type_mismatch"


def test_zip_without_word_document_is_a_mismatch() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("fees.docx", buffer.getvalue())
    assert reason_of(excinfo) == "type_mismatch"


def test_damaged_zip_claimed_as_docx_is_corrupt() -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("fees.docx", make_docx()[:200])
    assert reason_of(excinfo) == "corrupt"


def test_legacy_doc_is_a_mismatch_with_a_hint() -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert reason_of(excinfo) == "type_mismatch"
    assert ".docx" in str(excinfo.value)


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 8,
        b"%PDF-1.4 pretending to be text",
        b"PK\x03\x04 pretending to be text",
        bytes([0x81, 0x8D, 0x41, 0x42]),
        b"abc\x01\x02\x9f\xff",
    ],
)
def test_binary_claimed_as_text_is_a_mismatch(data: bytes) -> None:
    with pytest.raises(ParseError) as excinfo:
        detect_content_type("notes.txt", data)
    assert reason_of(excinfo) == "type_mismatch"
    assert str(excinfo.value).startswith("The file claims to be a plain-text file but")
