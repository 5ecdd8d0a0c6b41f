"""Word (.docx): paragraphs, heading styles as the outline, and tables row by row."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from .common import Block, BlockSink, Format, ParseError, corrupt, format_size, normalise

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_MAX_DOCX_UNPACKED_BYTES = 256 * 1024 * 1024
_HEADING_STYLE = re.compile(r"^heading\s*(\d*)$", re.IGNORECASE)


def parse_docx(data: bytes) -> list[Block]:
    _check_docx_unpacked_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
        sink = BlockSink()
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                _add_docx_paragraph(sink, item)
            elif isinstance(item, Table):
                for row_text in _docx_table_rows(item):
                    sink.add(row_text)
    except Exception as exc:
        # python-docx surfaces damage as KeyError, lxml errors, BadZipFile, ValueError, ...
        raise corrupt(FORMAT) from exc
    return sink.blocks


def _check_docx_unpacked_size(data: bytes) -> None:
    """python-docx loads every part into memory, so a zip bomb must be refused up front."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise corrupt(FORMAT) from exc
    if unpacked > _MAX_DOCX_UNPACKED_BYTES:
        size, limit = format_size(unpacked), format_size(_MAX_DOCX_UNPACKED_BYTES)
        raise ParseError("too_large", f"The Word document unpacks to {size}; the limit is {limit}.")


def _add_docx_paragraph(sink: BlockSink, paragraph: Paragraph) -> None:
    level = _docx_heading_level(paragraph)
    if level is None:
        sink.paragraph(paragraph.text)
    else:
        sink.heading(level, paragraph.text)


def _docx_heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style
    name = ((style.name if style is not None else None) or "").strip()
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name)
    if match is None:
        return None
    return int(match.group(1) or 1)


def _docx_table_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        seen: set[int] = set()
        cells: list[str] = []
        for cell in row.cells:
            # Merged cells repeat the same underlying element once per grid column.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = normalise(cell.text)
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


FORMAT = Format(
    content_type=DOCX,
    name="Word document",
    label="Word (.docx)",
    extensions=(".docx",),
    parse=parse_docx,
    no_text="No text could be extracted: the Word document has no paragraphs or tables with text.",
)
