"""Documents built in memory for the parser tests, and small helpers to read results."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from pypdf import PdfWriter

from knowledge.ingestion.parsers import Block, ParseError


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


_W_NAMESPACE = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DOCX_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def make_minimal_docx(body: bytes) -> bytes:
    """The smallest .docx Word and python-docx open: ``body`` is the XML inside <w:body>."""
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{_W_NAMESPACE}"><w:body>'.encode()
        + body
        + b"<w:sectPr/></w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_CONTENT_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


def make_docx_bomb(unpacked: int = 8 * 1024 * 1024) -> bytes:
    """The pen test's decompression bomb: a ~12 KB .docx whose main part unpacks to ``unpacked``
    bytes of one-letter paragraphs."""
    paragraph = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>"
    return make_minimal_docx(paragraph * (unpacked // len(paragraph)))
