"""The supported formats (registered once, in ``FORMATS``) and ``parse`` dispatching on them."""

from __future__ import annotations

from . import docx, html, markdown, pdf, text
from .common import Block, Format, ParseError, format_size

# The one registration point: each format module exports its FORMAT. The order is the
# order of the "Supported: ..." list shown for an unsupported upload.
FORMATS: tuple[Format, ...] = (pdf.FORMAT, docx.FORMAT, html.FORMAT, markdown.FORMAT, text.FORMAT)

BY_CONTENT_TYPE: dict[str, Format] = {fmt.content_type: fmt for fmt in FORMATS}
SUPPORTED_TYPES: dict[str, str] = {fmt.content_type: fmt.name for fmt in FORMATS}
EXTENSIONS: dict[str, str] = {ext: fmt.content_type for fmt in FORMATS for ext in fmt.extensions}
MIME_ALIASES: dict[str, str] = {alias: fmt.content_type for fmt in FORMATS for alias in fmt.aliases}

UNSUPPORTED_MESSAGE = (
    "is not a supported file type. Supported: " + ", ".join(fmt.label for fmt in FORMATS) + "."
)


def parse(data: bytes, content_type: str, *, max_bytes: int | None = None) -> list[Block]:
    """Blocks of text in reading order; ParseError if corrupt, encrypted, empty or too large."""
    if max_bytes is not None and len(data) > max_bytes:
        size, limit = format_size(len(data)), format_size(max_bytes)
        if size == limit:
            size = f"over {limit}"
        raise ParseError("too_large", f"The file is {size}; the limit is {limit}.")
    if not data:
        raise ParseError("empty", "The file is empty.")
    fmt = BY_CONTENT_TYPE.get(content_type)
    if fmt is None:
        raise ParseError("unsupported", f"This file {UNSUPPORTED_MESSAGE}")
    blocks = [block for block in fmt.parse(data) if block.text.strip()]
    if not blocks:
        raise ParseError("empty", fmt.no_text)
    return blocks
