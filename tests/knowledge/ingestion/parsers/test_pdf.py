"""PDF: pages, paragraphs and list items; encrypted, damaged and text-less files."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from knowledge.ingestion.parsers import PDF, Block, ParseError, detect_content_type, parse
from tests.knowledge.ingestion.parsers.samples import encrypt_pdf, make_pdf, reason_of, texts


def test_minimal_pdf_has_a_text_layer() -> None:
    reader = PdfReader(io.BytesIO(make_pdf([["Hello (world)"]])), strict=True)
    assert reader.pages[0].extract_text() == "Hello (world)"


def test_pdf_one_page() -> None:
    blocks = parse(make_pdf([["Hello world."]]), PDF)
    assert blocks == [Block("Hello world.", (), 1)]


def test_pdf_pages_lines_and_list_items() -> None:
    data = make_pdf(
        [
            ["Fees are charged", "monthly on the 1st.", "- waived for students", "- capped at 5"],
            ["Second page text."],
        ]
    )
    blocks = parse(data, PDF)
    assert [(block.text, block.page) for block in blocks] == [
        ("Fees are charged monthly on the 1st.", 1),
        ("- waived for students", 1),
        ("- capped at 5", 1),
        ("Second page text.", 2),
    ]
    assert all(block.heading_path == () for block in blocks)


def test_pdf_hyphenated_line_break_is_joined() -> None:
    blocks = parse(make_pdf([["A well-", "known fee."]]), PDF)
    assert texts(blocks) == ["A well-known fee."]


def test_encrypted_pdf() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(encrypt_pdf(make_pdf([["Secret"]]), "secret"), PDF)
    assert reason_of(excinfo) == "encrypted"
    assert str(excinfo.value) == "The PDF is password-protected; upload an unprotected copy."


def test_owner_password_only_pdf_is_read() -> None:
    blocks = parse(encrypt_pdf(make_pdf([["Readable anyway."]]), ""), PDF)
    assert texts(blocks) == ["Readable anyway."]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_pdf_is_corrupt(cut: float) -> None:
    data = make_pdf([["Hello world."], ["Page two."]])
    with pytest.raises(ParseError) as excinfo:
        parse(data[: int(len(data) * cut)], PDF)
    assert reason_of(excinfo) == "corrupt"


def test_garbage_after_pdf_header_is_corrupt() -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 20
    assert detect_content_type("x.pdf", data) == PDF
    with pytest.raises(ParseError) as excinfo:
        parse(data, PDF)
    assert reason_of(excinfo) == "corrupt"


def test_pdf_without_text_is_empty() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ParseError) as excinfo:
        parse(buffer.getvalue(), PDF)
    assert reason_of(excinfo) == "empty"
    assert "scanned PDF" in str(excinfo.value)
