"""How much work a document may cost: every format bounded before its expensive step.

The time bounds are generous (a loaded CI machine) yet far below what the same files cost
before the limits: the pen test's DOCX bomb took 47 s of CPU and 283 MB, a 1,000-row
vertically merged Word table 65 s, 200 KB of ``<a<a<a`` HTML about a minute and a page of
16,000 PDF lines 30 s.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import docx
import pytest

from knowledge.ingestion.parsers import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
    Limits,
    ParseError,
    parse,
    precheck,
)
from tests.knowledge.ingestion.parsers.samples import (
    make_docx_bomb,
    make_minimal_docx,
    make_pdf,
    texts,
)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    start = time.process_time()
    yield
    used = time.process_time() - start
    assert used < seconds, f"took {used:.1f} s of CPU, expected under {seconds} s"


def _refused(call: Callable[[], object]) -> ParseError:
    with pytest.raises(ParseError) as excinfo:
        call()
    return excinfo.value


def _paragraphs(count: int, runs: int = 1) -> bytes:
    """Paragraphs of varied text: they compress like real prose (a few to one)."""
    out = bytearray()
    for index in range(count):
        words = hashlib.sha256(str(index).encode()).hexdigest()
        out += b"<w:p>" + b"<w:r><w:t>%s</w:t></w:r>" % words.encode() * runs + b"</w:p>"
    return bytes(out)


# --------------------------------------------------------------------------- Word


def test_docx_bomb_is_refused_at_once_with_the_reason() -> None:
    bomb = make_docx_bomb()  # 25 KB that unpack to 8 MB of one-letter paragraphs
    assert len(bomb) < 32 * 1024
    with within(2.0):
        error = _refused(lambda: parse(bomb, DOCX))
        assert _refused(lambda: precheck(bomb, DOCX)).message == error.message
    assert error.reason == "too_large"
    assert "packed unusually tightly" in error.message
    assert "“word/document.xml” unpacks from" in error.message and "to 8 MB" in error.message
    assert "Save it again from Word" in error.message


def test_docx_unpacked_size_is_read_from_the_zip_directory() -> None:
    data = make_minimal_docx(_paragraphs(200))
    error = _refused(lambda: precheck(data, DOCX, Limits(max_unpacked_bytes=10_000)))
    assert error.reason == "too_large"
    assert error.message.startswith("The Word document unpacks to ")
    assert "the limit is 9.8 KB" in error.message


def test_docx_paragraphs_and_cells_are_counted_before_python_docx_reads_them() -> None:
    table = b"<w:tbl><w:tr>" + b"<w:tc><w:p/></w:tc>" * 25 + b"</w:tr></w:tbl>"
    data = make_minimal_docx(_paragraphs(60) + table)  # 60 + 25 cells + their 25 paragraphs
    precheck(data, DOCX, Limits(max_elements=100))  # the directory alone is fine
    error = _refused(lambda: parse(data, DOCX, limits=Limits(max_elements=100)))
    assert error.reason == "too_complex"
    assert error.message == (
        "The Word document has over 100 paragraphs and table cells, the limit. "
        "Split it into smaller documents."
    )
    assert len(parse(data, DOCX, limits=Limits(max_elements=110))) == 60


def test_docx_xml_elements_are_bounded_too() -> None:
    data = make_minimal_docx(_paragraphs(1, runs=600))  # one paragraph, 1,200 run elements
    error = _refused(lambda: parse(data, DOCX, limits=Limits(max_elements=100)))
    assert error.reason == "too_complex"
    assert "XML has over 1,000 elements" in error.message


def test_docx_reading_is_linear_in_paragraphs() -> None:
    # Word's own styles (python-docx's template has ~160): python-docx scanned them all to
    # find each paragraph's style, ~1.4 ms a paragraph (14 s here).
    document = docx.Document()
    for index in range(10_000):
        document.add_paragraph(hashlib.sha256(str(index).encode()).hexdigest())
    document.add_heading("Last", level=2)
    buffer = io.BytesIO()
    document.save(buffer)
    with within(6.0):  # about 2 s
        blocks = parse(buffer.getvalue(), DOCX)
    assert len(blocks) == 10_001 and blocks[-1].is_heading


def test_docx_vertically_merged_cells_repeat_and_stay_linear() -> None:
    def cell(text: str) -> bytes:
        return b"<w:tc><w:p><w:r><w:t>%s</w:t></w:r></w:p></w:tc>" % text.encode()

    merged = b"<w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc>"
    start = cell("Gold").replace(b"<w:tc>", b"<w:tc><w:tcPr><w:vMerge w:val='restart'/></w:tcPr>")
    rows = b"<w:tr>" + start + cell("row 0") + b"</w:tr>"
    rows += b"".join(b"<w:tr>" + merged + cell(f"row {n}") + b"</w:tr>" for n in range(1, 3000))
    data = make_minimal_docx(b"<w:tbl>" + rows + b"</w:tbl>")
    with within(5.0):  # python-docx walked up the table for each merged cell: 65 s for 1,000
        lines = texts(parse(data, DOCX))
    assert lines[:2] == ["Gold | row 0", "Gold | row 1"] and lines[-1] == "Gold | row 2999"


# --------------------------------------------------------------------------- HTML


def test_html_elements_are_counted_before_the_tree_is_built() -> None:
    page = b"<p>x</p>" * 101
    error = _refused(lambda: precheck(page, HTML, Limits(max_elements=100)))
    assert error.reason == "too_complex"
    assert error.message == (
        "The HTML page has over 100 elements, the limit. Split it into smaller pages."
    )
    assert len(parse(page, HTML, limits=Limits(max_elements=101))) == 101


def test_html_tokenising_is_linear() -> None:
    with within(2.0):  # Python's html.parser: about a minute (quadratic)
        error = _refused(lambda: parse(b"<a" * 100_000, HTML))
    assert error.reason == "empty"


def test_html_deep_nesting_is_read() -> None:
    page = b"<div>" * 20_000 + b"deep text" + b"</div>" * 20_000 + b"<p>after</p>"
    with within(5.0):
        assert texts(parse(page, HTML)) == ["deep text", "after"]


def test_html_nul_is_dropped() -> None:
    assert texts(parse(b"<p>a\x00b</p><p>c</p>", HTML)) == ["ab", "c"]


# --------------------------------------------------------------------------- Markdown, text


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (
            MARKDOWN,
            "The Markdown file is 1.5 KB; the limit for Markdown files is 1000 bytes. "
            "Split it into smaller files.",
        ),
        (
            TEXT,
            "The plain-text file is 1.5 KB; the limit for plain text files is 1000 bytes. "
            "Split it into smaller files.",
        ),
    ],
)
def test_markdown_and_text_files_are_capped_before_parsing(content_type: str, message: str) -> None:
    data = b"[" * 1536
    limits = Limits(max_text_bytes=1000)
    assert _refused(lambda: precheck(data, content_type, limits)).message == message
    error = _refused(lambda: parse(data, content_type, limits=limits))
    assert (error.reason, error.message) == ("too_large", message)


def test_text_extracted_from_any_format_is_capped() -> None:
    page = b"<p>" + b"word " * 300 + b"</p>"
    error = _refused(lambda: parse(page, HTML, limits=Limits(max_text_bytes=1000)))
    assert error.reason == "too_large"
    assert error.message == (
        "The document holds over 1000 bytes of text, the limit. Split it into smaller documents."
    )


# --------------------------------------------------------------------------- PDF


def test_pdf_pages_are_counted_before_any_is_read() -> None:
    data = make_pdf([["one"], ["two"], ["three"]])
    error = _refused(lambda: parse(data, PDF, limits=Limits(max_pdf_pages=2)))
    assert (error.reason, error.message) == (
        "too_complex",
        "The PDF has 3 pages; the limit is 2. Split it into smaller files.",
    )


def test_pdf_operations_share_one_budget() -> None:
    data = make_pdf([[f"line {n}" for n in range(30)], [f"more {n}" for n in range(30)]])
    # Each line is five operators (BT, Tf, Td, Tj, ET): 300 in all.
    assert len(parse(data, PDF, limits=Limits(max_pdf_operations=300))) == 2
    error = _refused(lambda: parse(data, PDF, limits=Limits(max_pdf_operations=299)))
    assert error.reason == "too_complex"
    assert error.message.startswith("The PDF's pages run over 299 drawing operations, the limit")


def test_pdf_page_of_many_lines_is_linear() -> None:
    data = make_pdf([[f"w{n}" for n in range(16_000)]])
    with within(5.0):  # the paragraph joining was quadratic: 30 s
        blocks = parse(data, PDF)
    assert len(blocks) == 1 and blocks[0].text.endswith("w15999")
