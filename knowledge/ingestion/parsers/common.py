"""What every format parser shares: blocks, the heading outline, text clean-up and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from portal.formatting import format_size


class ParseError(Exception):
    """An upload that cannot be ingested: ``reason`` is a short code, str(err) a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        # Both go to Exception so the error pickles (e.g. through Celery) and rebuilds intact.
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Block:
    """One paragraph-like unit of text with the headings it sits under."""

    text: str
    heading_path: tuple[str, ...]
    page: int | None
    is_heading: bool = False


_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much work one document may cost a worker (the ``KNOWLEDGE_MAX_*`` settings).

    Each bound is checked before the expensive step it protects (python-docx building its
    tree, BeautifulSoup building its tree, markdown-it parsing, pypdf interpreting pages),
    so a small hostile file is refused in milliseconds instead of costing minutes of CPU.
    The defaults are the settings' defaults; ``knowledge.ingestion.limits`` reads the
    configured values.
    """

    # Word: the archive's members unpacked, by the ZIP directory (zipfile enforces it).
    max_unpacked_bytes: int = 100 * _MB
    # Word: paragraphs + table cells (and 10x that many XML elements); HTML: elements.
    max_elements: int = 100_000
    # Markdown and plain-text files, and the text extracted from any format.
    max_text_bytes: int = 2 * _MB
    max_pdf_pages: int = 2_000
    # Content-stream operators pypdf interprets, all pages (and form XObjects) together.
    max_pdf_operations: int = 3_000_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Format:
    """One supported upload format, as registered in ``registry.FORMATS``."""

    content_type: str
    name: str  # in sentences: "claims to be a <name>"
    label: str  # in the list of supported types shown for an unsupported upload
    extensions: tuple[str, ...]
    parse: Callable[[bytes, Limits], Iterable[Block]]
    no_text: str  # the message when the file yields no text at all
    aliases: tuple[str, ...] = ()  # other MIME spellings browsers send for it
    article: str = "a"
    # Cheap checks of the raw bytes against the limits (no parsing, no decompression): run
    # at upload, so a file over a limit fails at once, and again before parsing.
    precheck: Callable[[bytes, Limits], None] | None = None

    @property
    def described(self) -> str:
        return f"{self.article} {self.name}"


# --------------------------------------------------------------------------- errors


def mismatch(fmt: Format, content: str) -> ParseError:
    return ParseError(
        "type_mismatch", f"The file claims to be {fmt.described} but its content is {content}."
    )


def corrupt(fmt: Format) -> ParseError:
    return ParseError("corrupt", f"The file is damaged and cannot be read as {fmt.described}.")


def too_large(message: str) -> ParseError:
    return ParseError("too_large", message)


def too_complex(message: str) -> ParseError:
    return ParseError("too_complex", message)


def too_much_text(limit: int) -> ParseError:
    return too_large(
        f"The document holds over {format_size(limit)} of text, the limit. "
        "Split it into smaller documents."
    )


def format_count(count: int) -> str:
    return f"{count:,}"


def size_over(size: int, limit: int) -> str:
    """``size`` for a message saying it is over ``limit`` (never "5 MB; the limit is 5 MB")."""
    shown = format_size(size)
    return f"over {shown}" if shown == format_size(limit) else shown


def check_text_size(data: bytes, limits: Limits, fmt: Format) -> None:
    """Markdown and plain text: the source size bounds the parse, so it is capped up front."""
    if len(data) > limits.max_text_bytes:
        raise too_large(
            f"The {fmt.name} is {size_over(len(data), limits.max_text_bytes)}; the limit for "
            f"{fmt.label} files is {format_size(limits.max_text_bytes)}. "
            "Split it into smaller files."
        )


# --------------------------------------------------------------------------- decoding

_CP1252_DISALLOWED = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> str | None:
    """UTF-8 (BOM allowed), else cp1252 when that yields clean text; None if neither."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    # A legacy Windows text file has no control characters; a binary almost always does.
    return None if _CP1252_DISALLOWED.search(text) else text


def decode_or_mismatch(data: bytes, fmt: Format) -> str:
    text = decode_text(data)
    if text is None:
        raise mismatch(fmt, "not readable text (save it as UTF-8)")
    return text


# --------------------------------------------------------------------------- text clean-up

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


def strip_controls(text: str) -> str:
    """Drop control and invisible characters but keep tabs and newlines (\\r becomes \\n)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n"))


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", strip_controls(text)).strip()


def verbatim(text: str) -> str:
    """Code keeps its inner layout; only control characters and outer blank lines go."""
    lines = strip_controls(text).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


# --------------------------------------------------------------------------- outline


@dataclass
class Outline:
    """A heading stack: which headings the next block sits under."""

    levels: list[tuple[int, str]] = field(default_factory=list)

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        while self.levels and self.levels[-1][0] >= level:
            self.levels.pop()
        self.levels.append((level, title))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.levels)


@dataclass
class BlockSink:
    """Collects blocks, keeping the heading path current; stops a parse as soon as the text
    collected passes ``max_text`` characters (``Limits.max_text_bytes``)."""

    page: int | None = None
    outline: Outline = field(default_factory=Outline)
    blocks: list[Block] = field(default_factory=list)
    max_text: int | None = None
    size: int = 0

    def heading(self, level: int, raw: str) -> None:
        title = normalise(raw)
        if title:
            path = self.outline.enter(level, title)
            self._append(Block(title, path, self.page, is_heading=True))

    def paragraph(self, raw: str) -> None:
        self.add(normalise(raw))

    def add(self, text: str) -> None:
        if text.strip():
            self._append(Block(text, self.outline.path, self.page))

    def _append(self, block: Block) -> None:
        self.size += len(block.text)
        if self.max_text is not None and self.size > self.max_text:
            raise too_much_text(self.max_text)
        self.blocks.append(block)


def sink_for(limits: Limits) -> BlockSink:
    return BlockSink(max_text=limits.max_text_bytes)
