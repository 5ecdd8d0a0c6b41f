"""Word (.docx): paragraphs, heading styles as the outline, and tables row by row.

A .docx is a ZIP of XML parts that python-docx unpacks and builds into one tree in memory,
so a few kilobytes of tightly packed XML could cost minutes of CPU and hundreds of MB.
The work is bounded before python-docx runs:

1. ``check_zip_directory`` (at upload, from ``detect``, and again here): the ZIP's end
   record, before zipfile reads the directory it points to. zipfile builds an object of
   about 1 KB for every part listed, so a 25 MB file of empty parts (some 300,000) cost
   seconds of CPU and ~300 MB each time it was opened: twice at upload, in the web request,
   and three times in the worker. Word writes tens of parts, hundreds with many images;
2. ``precheck_docx`` (also run at upload): the ZIP directory's unpacked sizes against
   ``Limits.max_unpacked_bytes`` and each large part's compression ratio (zipfile never
   yields more than a member's declared size, so the directory can be trusted);
3. ``_check_elements``: every XML part streamed through a counting parser (no tree is
   built) against ``Limits.max_elements`` paragraphs and table cells, and ten times that
   many XML elements in all.

Reading is then linear: heading levels come from one pass over the styles (python-docx
looks each paragraph's style up by scanning all styles), and tables are read row by row
with vertically merged cells resolved from the row above (python-docx walks up the
table for each one).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Iterator
from typing import Any

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from .common import (
    Block,
    BlockSink,
    Format,
    Limits,
    ParseError,
    corrupt,
    format_count,
    format_size,
    normalise,
    sink_for,
    size_over,
    too_complex,
    too_large,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_HEADING_STYLE = re.compile(r"^heading\s*(\d*)$", re.IGNORECASE)

# Word's XML compresses about 5-20 to 1 (images hardly at all); deflate cannot pass
# about 1000 to 1. Small parts (styles, settings) may compress further, harmlessly.
_MAX_COMPRESSION_RATIO = 100
_RATIO_CHECKED_FROM_BYTES = 1024 * 1024
# Runs, properties, bookmarks ...: a real document has well under 10 per paragraph.
_XML_ELEMENTS_PER_ELEMENT = 10
_READ_CHUNK = 64 * 1024
_W_P, _W_TC = qn("w:p"), qn("w:tc")
# The ZIP directory: its parts and its size (46 bytes a part and its name, at the least).
MAX_ZIP_PARTS = 10_000
MAX_ZIP_DIRECTORY_BYTES = 1024 * 1024
_END = struct.Struct("<4s4H2LH")  # the end of central directory record
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def parse_docx(data: bytes, limits: Limits) -> list[Block]:
    precheck_docx(data, limits)
    _check_elements(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
        levels = _HeadingLevels(document)
        sink = sink_for(limits)
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                _add_docx_paragraph(sink, item, levels)
            elif isinstance(item, Table):
                for row_text in _docx_table_rows(item):
                    sink.add(row_text)
    except ParseError:
        raise
    except Exception as exc:
        # python-docx surfaces damage as KeyError, lxml errors, BadZipFile, ValueError, ...
        raise corrupt(FORMAT) from exc
    return sink.blocks


# --------------------------------------------------------------------------- limits


def check_zip_directory(data: bytes) -> None:
    """The ZIP's directory, from its end record alone, within ``MAX_ZIP_PARTS`` parts and
    ``MAX_ZIP_DIRECTORY_BYTES``: zipfile reads all of what the record says (the size, whatever
    the count), so both are checked, ZIP64 included."""
    parts, size = _zip_directory_extent(data)
    if parts > MAX_ZIP_PARTS or size > MAX_ZIP_DIRECTORY_BYTES:
        raise too_large(
            f"The Word document's ZIP directory lists {format_count(parts)} parts in "
            f"{format_size(size)}; the limit is {format_count(MAX_ZIP_PARTS)} parts in "
            f"{format_size(MAX_ZIP_DIRECTORY_BYTES)} (Word writes tens, hundreds with many "
            "images). Save it again from Word and upload that copy."
        )


def _zip_directory_extent(data: bytes) -> tuple[int, int]:
    """(parts, bytes) of the directory as zipfile finds it: the end record ending the file,
    else the last one in its final 64 KB; with a ZIP64 locator before it, the largest of the
    counts and sizes of the records it may lead to."""
    tail = len(data) - _END.size
    if tail >= 0 and data[tail : tail + 4] == _END_SIGNATURE and data[-2:] == b"\0\0":
        start = tail
    else:
        start = data.rfind(_END_SIGNATURE, max(0, tail - (1 << 16)))
    if start < 0 or start + _END.size > len(data):
        return 0, 0  # no directory: zipfile finds the file damaged
    _, _, _, _, parts, size, _, _ = _END.unpack_from(data, start)
    locator = start - _ZIP64_LOCATOR.size
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return parts, size
    _, _, offset, _ = _ZIP64_LOCATOR.unpack_from(data, locator)
    # The record just before the locator (what zipfile reads) and the one it points to.
    for record in {locator - _ZIP64_END.size, offset}:
        if (
            0 <= record <= len(data) - _ZIP64_END.size
            and data[record : record + 4] == b"PK\x06\x06"
        ):
            fields = _ZIP64_END.unpack_from(data, record)
            parts, size = max(parts, fields[7]), max(size, fields[8])
    return parts, size


def precheck_docx(data: bytes, limits: Limits) -> None:
    """The ZIP directory against the limits; nothing is decompressed."""
    check_zip_directory(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise corrupt(FORMAT) from exc
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise too_large(
            f"The Word document unpacks to {size_over(unpacked, limits.max_unpacked_bytes)}; "
            f"the limit is {format_size(limits.max_unpacked_bytes)}. "
            "Split it into smaller documents, or remove large embedded files."
        )
    for member in members:
        packed = max(member.compress_size, 1)
        if (
            member.file_size >= _RATIO_CHECKED_FROM_BYTES
            and member.file_size > _MAX_COMPRESSION_RATIO * packed
        ):
            raise too_large(
                f"The Word document is packed unusually tightly: its part "
                f"“{member.filename[:80]}” unpacks from {format_size(packed)} to "
                f"{format_size(member.file_size)}, over {_MAX_COMPRESSION_RATIO} times its "
                "size (a possible decompression bomb). Save it again from Word and upload "
                "that copy."
            )


class _TooMany(Exception):
    """A signal out of the counting parser: over a limit."""

    pass


class _ElementCounter:
    """An lxml parser target: counts elements as they stream past; builds no tree."""

    def __init__(self, limits: Limits) -> None:
        self.max_paragraphs = limits.max_elements
        self.max_elements = limits.max_elements * _XML_ELEMENTS_PER_ELEMENT
        self.paragraphs = 0
        self.elements = 0

    def start(self, tag: str, attrib: Any) -> None:
        self.elements += 1
        if tag in (_W_P, _W_TC):
            self.paragraphs += 1
        if self.paragraphs > self.max_paragraphs or self.elements > self.max_elements:
            raise _TooMany

    def close(self) -> None:
        return None


def _check_elements(data: bytes, limits: Limits) -> None:
    """Stream every XML part through a counting parser before python-docx builds its tree."""
    counter = _ElementCounter(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                _count_member(archive, member, counter)
    except _TooMany:
        if counter.paragraphs > counter.max_paragraphs:
            raise too_complex(
                f"The Word document has over {format_count(counter.max_paragraphs)} "
                "paragraphs and table cells, the limit. Split it into smaller documents."
            ) from None
        raise too_complex(
            f"The Word document's XML has over {format_count(counter.max_elements)} elements, "
            "the limit (unusually heavy formatting). Split it into smaller documents, or save "
            "it again from Word."
        ) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise corrupt(FORMAT) from exc


def _count_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, counter: Any) -> None:
    # The same parser options as python-docx: entities are not expanded, nothing is fetched.
    parser = etree.XMLParser(target=counter, resolve_entities=False, no_network=True)
    seen = counter.elements
    with archive.open(member) as stream:
        while piece := stream.read(_READ_CHUNK):
            try:
                parser.feed(piece)
            except etree.XMLSyntaxError:
                # Not XML (an image, a font, ...): python-docx keeps those as bytes. Damaged
                # XML is left for python-docx to report.
                return
    if counter.elements > seen:
        try:
            parser.close()
        except etree.XMLSyntaxError:
            return


# --------------------------------------------------------------------------- reading


class _HeadingLevels:
    """Heading level by paragraph style id, from one pass over the document's styles."""

    def __init__(self, document: Any) -> None:
        self.by_id: dict[str, int | None] = {}
        for style in document.styles:
            if style.type == WD_STYLE_TYPE.PARAGRAPH and style.style_id not in self.by_id:
                self.by_id[style.style_id] = _docx_heading_level(style.name)
        default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
        self.default = None if default is None else _docx_heading_level(default.name)

    def of(self, paragraph: Paragraph) -> int | None:
        # As python-docx: no style, or an unknown or non-paragraph one, means the default.
        style_id = paragraph._p.style
        if style_id is None:
            return self.default
        return self.by_id.get(style_id, self.default)


def _add_docx_paragraph(sink: BlockSink, paragraph: Paragraph, levels: _HeadingLevels) -> None:
    level = levels.of(paragraph)
    if level is None:
        sink.paragraph(paragraph.text)
    else:
        sink.heading(level, paragraph.text)


def _docx_heading_level(style_name: str | None) -> int | None:
    name = (style_name or "").strip()
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name)
    if match is None:
        return None
    return int(match.group(1) or 1)


def _docx_table_rows(table: Table) -> Iterator[str]:
    """One line per row, cells joined by " | "; a cell spanning columns counts once, and a
    vertically merged cell repeats the text of the cell it continues."""
    above: dict[int, str] = {}  # grid column -> text of the cell there in the previous row
    for tr in table._tbl.tr_lst:
        column = tr.grid_before
        cells: list[str] = []
        current: dict[int, str] = {}
        for tc in tr.tc_lst:
            if tc.vMerge == "continue":
                text = above.get(column, "")
            else:
                text = normalise("\n".join(p.text for p in tc.p_lst))
            current[column] = text
            if text:
                cells.append(text)
            column += max(tc.grid_span, 1)
        above = current
        if cells:
            yield " | ".join(cells)


FORMAT = Format(
    content_type=DOCX,
    name="Word document",
    label="Word (.docx)",
    extensions=(".docx",),
    parse=parse_docx,
    no_text="No text could be extracted: the Word document has no paragraphs or tables with text.",
    precheck=precheck_docx,
)
