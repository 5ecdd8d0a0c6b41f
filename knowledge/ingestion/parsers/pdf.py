"""PDF: the text layer of each page, split into paragraphs and list items."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from pypdf import PdfReader

from .common import Block, BlockSink, Format, ParseError, corrupt, strip_controls

PDF = "application/pdf"

_LIST_ITEM = re.compile(
    r"^\s*(?:[-*+\u2022\u00b7\u25aa\u2023\u25e6\u2013]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+\S"
)
_HYPHENATED_END = re.compile(r"[^\W\d_]-$")


def parse_pdf(data: bytes) -> list[Block]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypts_without_password(reader):
            raise ParseError(
                "encrypted", "The PDF is password-protected; upload an unprotected copy."
            )
        page_texts = [page.extract_text() or "" for page in reader.pages]
    except ParseError:
        raise
    except Exception as exc:
        # pypdf raises a wide range of errors (PdfReadError, KeyError, ValueError, ...)
        # on damaged files; for the uploader they all mean the same thing.
        raise corrupt(FORMAT) from exc
    if not page_texts:
        raise corrupt(FORMAT)
    sink = BlockSink()
    for number, text in enumerate(page_texts, start=1):
        sink.page = number
        for paragraph in _pdf_paragraphs(text):
            sink.paragraph(paragraph)
    return sink.blocks


def _decrypts_without_password(reader: PdfReader) -> bool:
    """Owner-password-only PDFs open with an empty user password and may be read."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        # E.g. AES without the optional crypto dependency: treat as not readable.
        return False


def _pdf_paragraphs(text: str) -> Iterator[str]:
    """Blank lines end paragraphs; list items start new ones; other line breaks are spaces."""
    current = ""
    for raw_line in strip_controls(text).split("\n"):
        line = raw_line.strip()
        if not line:
            if current:
                yield current
            current = ""
        elif _LIST_ITEM.match(line):
            if current:
                yield current
            current = line
        elif current and _HYPHENATED_END.search(current):
            # Keep the hyphen: dropping it would mangle real compounds like "well-known".
            current += line
        else:
            current = f"{current} {line}" if current else line
    if current:
        yield current


FORMAT = Format(
    content_type=PDF,
    name="PDF",
    label="PDF",
    extensions=(".pdf",),
    parse=parse_pdf,
    no_text="No text could be extracted (a scanned PDF without a text layer?).",
    aliases=("application/x-pdf",),
)
