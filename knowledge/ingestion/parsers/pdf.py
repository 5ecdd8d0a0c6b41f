"""PDF: the text layer of each page, split into paragraphs and list items.

A PDF is a program: a few compressed bytes may draw thousands of pages, or a page may call
the same form thousands of times. pypdf caps each stream and the page tree itself; here the
page count (``Limits.max_pdf_pages``) is checked before any page is read, and every
content-stream operator pypdf interprets, form XObjects included, counts against one
budget for the whole file (``Limits.max_pdf_operations``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from pypdf import PdfReader

from .common import (
    Block,
    Format,
    Limits,
    ParseError,
    corrupt,
    format_count,
    sink_for,
    strip_controls,
    too_complex,
)

PDF = "application/pdf"

_LIST_ITEM = re.compile(
    r"^\s*(?:[-*+\u2022\u00b7\u25aa\u2023\u25e6\u2013]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+\S"
)
_HYPHENATED_END = re.compile(r"[^\W\d_]-$")


def parse_pdf(data: bytes, limits: Limits) -> list[Block]:
    budget = _OperationBudget(limits.max_pdf_operations)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypts_without_password(reader):
            raise ParseError(
                "encrypted", "The PDF is password-protected; upload an unprotected copy."
            )
        pages = len(reader.pages)
        if pages > limits.max_pdf_pages:
            raise too_complex(
                f"The PDF has {format_count(pages)} pages; the limit is "
                f"{format_count(limits.max_pdf_pages)}. Split it into smaller files."
            )
        page_texts = [
            page.extract_text(visitor_operand_before=budget) or "" for page in reader.pages
        ]
    except ParseError:
        raise
    except Exception as exc:
        if budget.exceeded:  # in case pypdf wrapped the budget's own error
            raise budget.error() from exc
        # pypdf raises a wide range of errors (PdfReadError, KeyError, ValueError, ...)
        # on damaged files; for the uploader they all mean the same thing.
        raise corrupt(FORMAT) from exc
    if not page_texts:
        raise corrupt(FORMAT)
    sink = sink_for(limits)
    for number, text in enumerate(page_texts, start=1):
        sink.page = number
        for paragraph in _pdf_paragraphs(text):
            sink.paragraph(paragraph)
    return sink.blocks


class _OperationBudget:
    """pypdf's ``visitor_operand_before``: counts operators, and the items of TJ arrays."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.exceeded = False

    def __call__(self, operator: bytes, operands: Any, cm: Any, tm: Any) -> None:
        self.used += 1
        if operator == b"TJ" and operands and isinstance(operands[0], list):
            self.used += len(operands[0])
        if self.used > self.limit:
            self.exceeded = True
            raise self.error()

    def error(self) -> ParseError:
        return too_complex(
            f"The PDF's pages run over {format_count(self.limit)} drawing operations, the "
            "limit (far more than text needs). Split it into smaller files, or upload a copy "
            "without the drawings."
        )


def _decrypts_without_password(reader: PdfReader) -> bool:
    """Owner-password-only PDFs open with an empty user password and may be read."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        # E.g. AES without the optional crypto dependency: treat as not readable.
        return False


def _pdf_paragraphs(text: str) -> Iterator[str]:
    """Blank lines end paragraphs; list items start new ones; other line breaks are spaces.

    Linear time: a paragraph's lines are collected in a list and only the end of the last
    one is looked at (a page of thousands of lines may be one paragraph).
    """
    current: list[str] = []
    for raw_line in strip_controls(text).split("\n"):
        line = raw_line.strip()
        if not line:
            if current:
                yield "".join(current)
            current = []
        elif _LIST_ITEM.match(line):
            if current:
                yield "".join(current)
            current = [line]
        elif current and _HYPHENATED_END.search(current[-1][-2:]):
            # Keep the hyphen: dropping it would mangle real compounds like "well-known".
            current.append(line)
        else:
            current.append(f" {line}" if current else line)
    if current:
        yield "".join(current)


FORMAT = Format(
    content_type=PDF,
    name="PDF",
    label="PDF",
    extensions=(".pdf",),
    parse=parse_pdf,
    no_text="No text could be extracted (a scanned PDF without a text layer?).",
    aliases=("application/x-pdf",),
)
