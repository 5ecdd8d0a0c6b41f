"""Word (.docx): heading styles, paragraphs and tables; damaged and oversized files."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from knowledge.ingestion.parsers import DOCX, Limits, ParseError, detect_content_type, parse
from tests.knowledge.ingestion.parsers.samples import body, make_docx, reason_of, texts


def test_docx_headings_paragraphs_and_table() -> None:
    blocks = parse(make_docx(), DOCX)
    headings = [(block.text, block.heading_path) for block in blocks if block.is_heading]
    assert headings == [
        ("Card Fees", ("Card Fees",)),
        ("Foreign transactions", ("Card Fees", "Foreign transactions")),
        ("ATM withdrawals", ("Card Fees", "Foreign transactions", "ATM withdrawals")),
        ("Disputes", ("Card Fees", "Disputes")),
    ]
    assert body(blocks) == [
        ("Fees apply to all personal cards.", ("Card Fees",)),
        ("A 2.75% fee applies abroad.", ("Card Fees", "Foreign transactions")),
        ("Card | Fee", ("Card Fees", "Foreign transactions")),
        ("Gold | 0%", ("Card Fees", "Foreign transactions")),
        (
            "Three free withdrawals a month.",
            ("Card Fees", "Foreign transactions", "ATM withdrawals"),
        ),
        ("Raise disputes within 60 days.", ("Card Fees", "Disputes")),
    ]
    assert all(block.page is None for block in blocks)


def test_docx_merged_cells_are_not_repeated() -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Wide"
    table.cell(0, 2).text = "Narrow"
    buffer = io.BytesIO()
    document.save(buffer)
    assert texts(parse(buffer.getvalue(), DOCX)) == ["Wide | Narrow"]


def test_docx_with_broken_main_part_is_corrupt() -> None:
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "word/document.xml":
                content = content[: len(content) // 2]
            archive.writestr(item, content)
    data = buffer.getvalue()
    assert detect_content_type("broken.docx", data) == DOCX
    with pytest.raises(ParseError) as excinfo:
        parse(data, DOCX)
    assert reason_of(excinfo) == "corrupt"


def test_docx_that_unpacks_too_large_is_refused() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(make_docx(), DOCX, limits=Limits(max_unpacked_bytes=1024))
    assert reason_of(excinfo) == "too_large"
    assert "unpacks to" in str(excinfo.value) and "the limit is 1 KB." in str(excinfo.value)


def test_docx_without_text_is_empty() -> None:
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with pytest.raises(ParseError) as excinfo:
        parse(buffer.getvalue(), DOCX)
    assert reason_of(excinfo) == "empty"
