"""Plain text: paragraphs, underlined headings, legacy encodings."""

from __future__ import annotations

import pytest

from knowledge.ingestion.parsers import TEXT, ParseError, parse
from tests.knowledge.ingestion.parsers.samples import reason_of, texts


def test_plain_text_paragraphs_and_underlined_headings() -> None:
    data = (
        b"Branch guide\n============\n\nOpening hours are\n9 to 5.\n\n"
        b"Holidays\n--------\nClosed on\tpublic holidays.\x00\n"
    )
    blocks = parse(data, TEXT)
    assert [(block.text, block.heading_path, block.is_heading) for block in blocks] == [
        ("Branch guide", ("Branch guide",), True),
        ("Opening hours are 9 to 5.", ("Branch guide",), False),
        ("Holidays", ("Branch guide", "Holidays"), True),
        ("Closed on public holidays.", ("Branch guide", "Holidays"), False),
    ]


def test_plain_text_cp1252_and_crlf() -> None:
    blocks = parse("Caf\u00e9 \u201cfees\u201d\r\n\r\nNext".encode("cp1252"), TEXT)
    assert texts(blocks) == ["Caf\u00e9 \u201cfees\u201d", "Next"]


def test_whitespace_only_text_is_empty() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b" \n\t\n ", TEXT)
    assert reason_of(excinfo) == "empty"
