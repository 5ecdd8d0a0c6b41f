"""Parsing uploads into blocks: detection, each format, and every refusal reason."""

from __future__ import annotations

import io
import pickle
import zipfile

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from knowledge.ingestion import parsers
from knowledge.ingestion.parsers import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    SUPPORTED_TYPES,
    TEXT,
    Block,
    ParseError,
    detect_content_type,
    parse,
)

# --------------------------------------------------------------------------- helpers


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal PDF: one Helvetica text line per entry, pages in order, exact xref table."""
    kids = " ".join(f"{4 + 2 * index} 0 R" for index in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        stream = "\n".join(
            f"BT /F1 12 Tf 72 {720 - 20 * row} Td ({_pdf_string(line)}) Tj ET"
            for row, line in enumerate(lines)
        ).encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Card Fees", level=0)
    document.add_paragraph("Fees apply to all personal cards.")
    document.add_heading("Foreign transactions", level=1)
    document.add_paragraph("A 2.75% fee applies abroad.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Card"
    table.cell(0, 1).text = "Fee"
    table.cell(1, 0).text = "Gold"
    table.cell(1, 1).text = "0%"
    document.add_heading("ATM withdrawals", level=2)
    document.add_paragraph("Three free withdrawals a month.")
    document.add_heading("Disputes", level=1)
    document.add_paragraph("Raise disputes within 60 days.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def texts(blocks: list[Block]) -> list[str]:
    return [block.text for block in blocks]


def body(blocks: list[Block]) -> list[tuple[str, tuple[str, ...]]]:
    return [(block.text, block.heading_path) for block in blocks if not block.is_heading]


def reason_of(excinfo: pytest.ExceptionInfo[ParseError]) -> str:
    return excinfo.value.reason


# --------------------------------------------------------------------------- detection


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


def test_supported_types_have_names() -> None:
    assert set(SUPPORTED_TYPES) == {PDF, DOCX, HTML, MARKDOWN, TEXT}


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


def test_parse_error_pickles() -> None:
    error = ParseError("corrupt", "The file is damaged.")
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (restored.reason, str(restored)) == ("corrupt", "The file is damaged.")


# --------------------------------------------------------------------------- limits


def test_too_large() -> None:
    data = b"x" * (3 * 1024 * 1024 + 1)
    with pytest.raises(ParseError) as excinfo:
        parse(data, TEXT, max_bytes=2 * 1024 * 1024)
    assert reason_of(excinfo) == "too_large"
    assert str(excinfo.value) == "The file is 3 MB; the limit is 2 MB."


def test_too_large_never_shows_equal_sizes() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"x" * (10 * 1024 * 1024 + 1), TEXT, max_bytes=10 * 1024 * 1024)
    assert str(excinfo.value) == "The file is over 10 MB; the limit is 10 MB."


def test_within_limit_parses() -> None:
    assert texts(parse(b"short", TEXT, max_bytes=5)) == ["short"]


def test_parse_rejects_unknown_type() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"data", "application/zip")
    assert reason_of(excinfo) == "unsupported"


# --------------------------------------------------------------------------- PDF


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


# --------------------------------------------------------------------------- DOCX


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


def test_docx_that_unpacks_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsers, "_MAX_DOCX_UNPACKED_BYTES", 1024)
    with pytest.raises(ParseError) as excinfo:
        parse(make_docx(), DOCX)
    assert reason_of(excinfo) == "too_large"
    assert str(excinfo.value).endswith("the limit is 1 KB.")


def test_docx_without_text_is_empty() -> None:
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with pytest.raises(ParseError) as excinfo:
        parse(buffer.getvalue(), DOCX)
    assert reason_of(excinfo) == "empty"


# --------------------------------------------------------------------------- HTML

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Ignored title</title><style>p { color: red }</style></head>
<body>
  <script>var secret = "do not index";</script>
  <noscript>Enable JavaScript</noscript>
  <div>Intro text in a div
    <div><p>Nested &amp; <b>bold</b>   paragraph.</p> tail text</div>
  </div>
  <h1>Accounts</h1>
  <p>Open an account<br>online.</p>
  <!-- a comment -->
  <h2>Fees</h2>
  <ul><li>Monthly: &pound;5</li><li>Parent <ul><li>Child item</li></ul></li></ul>
  <table><thead><tr><th>Card</th><th>Fee</th></tr></thead>
         <tbody><tr><td>Gold</td><td><p>1%</p></td></tr></tbody></table>
  <pre>line 1
    indented line 2</pre>
  <h2>Closing</h2>
  <section><p>Close any time.</p><template><p>hidden</p></template></section>
  <h1>Loans</h1>
  <dl><dt>APR</dt><dd>Annual rate</dd></dl>
  <blockquote>Quoted advice.</blockquote>
</body></html>"""


def test_html_structure() -> None:
    blocks = parse(HTML_PAGE.encode(), HTML)
    assert body(blocks) == [
        ("Intro text in a div", ()),
        ("Nested & bold paragraph.", ()),
        ("tail text", ()),
        ("Open an account online.", ("Accounts",)),
        ("Monthly: £5", ("Accounts", "Fees")),
        ("Parent", ("Accounts", "Fees")),
        ("Child item", ("Accounts", "Fees")),
        ("Card | Fee", ("Accounts", "Fees")),
        ("Gold | 1%", ("Accounts", "Fees")),
        ("line 1\n    indented line 2", ("Accounts", "Fees")),
        ("Close any time.", ("Accounts", "Closing")),
        ("APR", ("Loans",)),
        ("Annual rate", ("Loans",)),
        ("Quoted advice.", ("Loans",)),
    ]
    headings = [block.heading_path for block in blocks if block.is_heading]
    assert headings == [
        ("Accounts",),
        ("Accounts", "Fees"),
        ("Accounts", "Closing"),
        ("Loans",),
    ]


def test_html_drops_scripts_styles_and_head() -> None:
    joined = " ".join(texts(parse(HTML_PAGE.encode(), HTML)))
    for hidden in ("do not index", "color: red", "Ignored title", "Enable JavaScript", "hidden"):
        assert hidden not in joined
    assert "comment" not in joined


def test_deeply_nested_html_does_not_overflow_the_stack() -> None:
    depth = 5000
    page = (
        "<div>" * depth
        + "Deep <b>text</b><h2>"
        + "<span>" * depth
        + "Title</h2>"
        + "</div>" * depth
    )
    blocks = parse(page.encode(), HTML)
    assert [(block.text, block.heading_path) for block in blocks] == [
        ("Deep text", ()),
        ("Title", ("Title",)),
    ]


def test_html_in_legacy_encoding() -> None:
    blocks = parse("<p>Caf\u00e9 &euro; fees</p>".encode("cp1252"), HTML)
    assert texts(blocks) == ["Caf\u00e9 \u20ac fees"]


def test_html_without_visible_text_is_empty() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"<html><head><title>T</title></head><body><script>x()</script></body></html>", HTML)
    assert reason_of(excinfo) == "empty"


# --------------------------------------------------------------------------- Markdown

MARKDOWN_DOC = """---
title: Front matter is skipped
---
# Card fees #

Fees apply to **all** personal cards
and to *business* cards.

Overview
========

- First item with [a link](https://example.com)
- Second item with `inline_code` and ![alt text](img.png)
  continued here
1. Numbered _one_

Sub section
-----------

> Quoted **advice** here.

```python
def fee(amount):
    return amount * 0.02  # **not bold**
```

| Card | Fee |
|------|-----|
| Gold | 1%  |

***

## ATM ##
Three\\*free\\* withdrawals; snake_case_name stays.
"""


def test_markdown_structure() -> None:
    blocks = parse(MARKDOWN_DOC.encode(), MARKDOWN)
    headings = [(block.text, block.heading_path) for block in blocks if block.is_heading]
    assert headings == [
        ("Card fees", ("Card fees",)),
        ("Overview", ("Overview",)),
        ("Sub section", ("Overview", "Sub section")),
        ("ATM", ("Overview", "ATM")),
    ]
    code = "def fee(amount):\n    return amount * 0.02  # **not bold**"
    assert body(blocks) == [
        ("Fees apply to all personal cards and to business cards.", ("Card fees",)),
        ("First item with a link", ("Overview",)),
        ("Second item with inline_code and alt text continued here", ("Overview",)),
        ("Numbered one", ("Overview",)),
        ("Quoted advice here.", ("Overview", "Sub section")),
        (code, ("Overview", "Sub section")),
        ("Card | Fee", ("Overview", "Sub section")),
        ("Gold | 1%", ("Overview", "Sub section")),
        ("Three*free* withdrawals; snake_case_name stays.", ("Overview", "ATM")),
    ]


def test_markdown_unclosed_fence_keeps_the_rest_verbatim() -> None:
    blocks = parse(b"Intro.\n\n~~~\n  a\n\n  b\n", MARKDOWN)
    assert texts(blocks) == ["Intro.", "  a\n\n  b"]


def test_markdown_hash_without_space_is_not_a_heading() -> None:
    blocks = parse(b"#hashtag text", MARKDOWN)
    assert blocks == [Block("#hashtag text", (), None)]


# --------------------------------------------------------------------------- plain text


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
