"""The supported formats (registered once, in ``FORMATS``) and ``parse`` dispatching on them."""

from __future__ import annotations

from . import docx, html, markdown, pdf, text
from .common import (
    DEFAULT_LIMITS,
    Block,
    Format,
    Limits,
    ParseError,
    format_size,
    size_over,
    too_much_text,
)

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


def precheck(data: bytes, content_type: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """The cheap checks of a format's limits (no parsing): at upload, so a file over a
    limit fails at once instead of waiting for a worker; ParseError."""
    fmt = BY_CONTENT_TYPE.get(content_type)
    if fmt is not None and fmt.precheck is not None:
        fmt.precheck(data, limits)


def parse(
    data: bytes,
    content_type: str,
    *,
    max_bytes: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Block]:
    """Blocks of text in reading order; ParseError if corrupt, encrypted, empty, too large
    or too complex for ``limits``."""
    if max_bytes is not None and len(data) > max_bytes:
        size, limit = size_over(len(data), max_bytes), format_size(max_bytes)
        raise ParseError("too_large", f"The file is {size}; the limit is {limit}.")
    if not data:
        raise ParseError("empty", "The file is empty.")
    fmt = BY_CONTENT_TYPE.get(content_type)
    if fmt is None:
        raise ParseError("unsupported", f"This file {UNSUPPORTED_MESSAGE}")
    blocks = [block for block in fmt.parse(data, limits) if block.text.strip()]
    if not blocks:
        raise ParseError("empty", fmt.no_text)
    _check_text_size(blocks, limits)
    return blocks


def _check_text_size(blocks: list[Block], limits: Limits) -> None:
    """Chunking and embedding cost grows with the text, whatever the format held it. (The
    parsers stop early on characters; this counts the bytes.)"""
    size = 0
    for block in blocks:
        size += len(block.text.encode("utf-8", "surrogatepass"))
        if size > limits.max_text_bytes:
            raise too_much_text(limits.max_text_bytes)
