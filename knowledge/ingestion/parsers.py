"""Turn uploaded documents (PDF, DOCX, HTML, Markdown, plain text) into blocks of text."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

import docx
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"

SUPPORTED_TYPES: dict[str, str] = {
    PDF: "PDF",
    DOCX: "Word document",
    HTML: "HTML page",
    MARKDOWN: "Markdown file",
    TEXT: "plain-text file",
}

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".html": HTML,
    ".htm": HTML,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": TEXT,
}

# Spellings browsers and operating systems send for the same formats.
_MIME_ALIASES: dict[str, str] = {
    "application/x-pdf": PDF,
    "application/xhtml+xml": HTML,
    "text/x-markdown": MARKDOWN,
}
# Generic types say nothing about the format, so the extension decides (then magic bytes check).
_UNSPECIFIC_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/zip",
        "application/x-zip-compressed",
    }
)
_MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})

_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCX_MAIN_PART = "word/document.xml"
_BINARY_SNIFF_BYTES = 8192

_UNSUPPORTED_MESSAGE = (
    "is not a supported file type. Supported: PDF, Word (.docx), HTML, Markdown, plain text."
)


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


# --------------------------------------------------------------------------- detection


def detect_content_type(filename: str, data: bytes, claimed: str | None = None) -> str:
    """The content type of an upload, checked against its magic bytes; raises ParseError."""
    content_type = _declared_type(filename, claimed)
    if not data:
        raise ParseError("empty", "The file is empty.")
    _check_magic(content_type, data)
    return content_type


def _declared_type(filename: str, claimed: str | None) -> str:
    extension = PurePath(filename or "").suffix.lower()
    mime = (claimed or "").split(";", 1)[0].strip().lower()
    if mime in _UNSPECIFIC_TYPES:
        mime = EXTENSIONS.get(extension, "")
    mime = _MIME_ALIASES.get(mime, mime)
    if mime == TEXT and extension in _MARKDOWN_EXTENSIONS:
        # Many browsers label .md uploads text/plain; Markdown is the more useful reading.
        mime = MARKDOWN
    if mime not in SUPPORTED_TYPES:
        subject = f"“{PurePath(filename).name}”" if filename else "This file"
        raise ParseError("unsupported", f"{subject} {_UNSUPPORTED_MESSAGE}")
    return mime


def _check_magic(content_type: str, data: bytes) -> None:
    if content_type == PDF:
        if not _looks_like_pdf(data):
            raise _mismatch(content_type, _describe_content(data, "a PDF"))
    elif content_type == DOCX:
        _check_docx_container(data)
    else:
        _check_text(content_type, data)


def _looks_like_pdf(data: bytes) -> bool:
    # PDF readers accept a header anywhere in the first KB (some generators prepend junk).
    return _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]


def _check_docx_container(data: bytes) -> None:
    if not data.startswith(_ZIP_MAGIC):
        if data.startswith(_OLE_MAGIC):
            raise _mismatch(DOCX, "an older Word (.doc) file; save it as .docx and upload it again")
        raise _mismatch(DOCX, _describe_content(data, "a Word (.docx) document"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise _corrupt(DOCX) from exc
    if _DOCX_MAIN_PART not in names:
        raise _mismatch(DOCX, "a ZIP archive without a Word document inside (another format?)")


def _check_text(content_type: str, data: bytes) -> None:
    if data.startswith((_PDF_MAGIC, _ZIP_MAGIC)):
        raise _mismatch(content_type, _describe_content(data, "text"))
    if b"\x00" in data[:_BINARY_SNIFF_BYTES] or _decode_text(data) is None:
        raise _mismatch(
            content_type, "binary data or text in an unsupported encoding (save it as UTF-8)"
        )


def _describe_content(data: bytes, expected: str) -> str:
    """What the content seems to be instead, for the mismatch message."""
    if data.startswith(_PDF_MAGIC):
        return "a PDF"
    if data.startswith(_ZIP_MAGIC):
        return "a ZIP archive (perhaps a Word or other Office document)"
    return expected if expected.startswith("not ") else f"not {expected}"


def _mismatch(content_type: str, content: str) -> ParseError:
    claimed = _with_article(content_type)
    return ParseError(
        "type_mismatch", f"The file claims to be {claimed} but its content is {content}."
    )


def _with_article(content_type: str) -> str:
    name = SUPPORTED_TYPES[content_type]
    return f"{'an' if content_type == HTML else 'a'} {name}"


def _corrupt(content_type: str) -> ParseError:
    name = _with_article(content_type)
    return ParseError("corrupt", f"The file is damaged and cannot be read as {name}.")


_CP1252_DISALLOWED = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _decode_text(data: bytes) -> str | None:
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


# --------------------------------------------------------------------------- parse


def parse(data: bytes, content_type: str, *, max_bytes: int | None = None) -> list[Block]:
    """Blocks of text in reading order; ParseError if corrupt, encrypted, empty or too large."""
    if max_bytes is not None and len(data) > max_bytes:
        size, limit = _format_size(len(data)), _format_size(max_bytes)
        if size == limit:
            size = f"over {limit}"
        raise ParseError("too_large", f"The file is {size}; the limit is {limit}.")
    if not data:
        raise ParseError("empty", "The file is empty.")
    parser = _PARSERS.get(content_type)
    if parser is None:
        raise ParseError("unsupported", f"This file {_UNSUPPORTED_MESSAGE}")
    blocks = [block for block in parser(data) if block.text.strip()]
    if not blocks:
        raise ParseError("empty", _NO_TEXT_MESSAGES[content_type])
    return blocks


_NO_TEXT_MESSAGES: dict[str, str] = {
    PDF: "No text could be extracted (a scanned PDF without a text layer?).",
    DOCX: "No text could be extracted: the Word document has no paragraphs or tables with text.",
    HTML: "No text could be extracted: the HTML page has no visible text.",
    MARKDOWN: "No text could be extracted: the Markdown file contains no text.",
    TEXT: "No text could be extracted: the file contains only whitespace.",
}


def _format_size(size: int) -> str:
    if size < 1024:
        return f"{size} byte" if size == 1 else f"{size} bytes"
    unit, scale = ("MB", 1024 * 1024) if size >= 1024 * 1024 else ("KB", 1024)
    return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"


# --------------------------------------------------------------------------- text clean-up

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


def _strip_controls(text: str) -> str:
    """Drop control and invisible characters but keep tabs and newlines (\\r becomes \\n)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n"))


def _normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", _strip_controls(text)).strip()


def _verbatim(text: str) -> str:
    """Code keeps its inner layout; only control characters and outer blank lines go."""
    lines = _strip_controls(text).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


@dataclass
class _Outline:
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
class _BlockSink:
    """Collects blocks, keeping the heading path current."""

    page: int | None = None
    outline: _Outline = field(default_factory=_Outline)
    blocks: list[Block] = field(default_factory=list)

    def heading(self, level: int, raw: str) -> None:
        title = _normalise(raw)
        if title:
            path = self.outline.enter(level, title)
            self.blocks.append(Block(title, path, self.page, is_heading=True))

    def paragraph(self, raw: str) -> None:
        self.add(_normalise(raw))

    def add(self, text: str) -> None:
        if text.strip():
            self.blocks.append(Block(text, self.outline.path, self.page))


# --------------------------------------------------------------------------- PDF

_LIST_ITEM = re.compile(
    r"^\s*(?:[-*+\u2022\u00b7\u25aa\u2023\u25e6\u2013]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+\S"
)
_HYPHENATED_END = re.compile(r"[^\W\d_]-$")


def _parse_pdf(data: bytes) -> list[Block]:
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
        raise _corrupt(PDF) from exc
    if not page_texts:
        raise _corrupt(PDF)
    sink = _BlockSink()
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
    for raw_line in _strip_controls(text).split("\n"):
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


# --------------------------------------------------------------------------- DOCX

_MAX_DOCX_UNPACKED_BYTES = 256 * 1024 * 1024
_HEADING_STYLE = re.compile(r"^heading\s*(\d*)$", re.IGNORECASE)


def _parse_docx(data: bytes) -> list[Block]:
    _check_docx_unpacked_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
        sink = _BlockSink()
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                _add_docx_paragraph(sink, item)
            elif isinstance(item, Table):
                for row_text in _docx_table_rows(item):
                    sink.add(row_text)
    except Exception as exc:
        # python-docx surfaces damage as KeyError, lxml errors, BadZipFile, ValueError, ...
        raise _corrupt(DOCX) from exc
    return sink.blocks


def _check_docx_unpacked_size(data: bytes) -> None:
    """python-docx loads every part into memory, so a zip bomb must be refused up front."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise _corrupt(DOCX) from exc
    if unpacked > _MAX_DOCX_UNPACKED_BYTES:
        size, limit = _format_size(unpacked), _format_size(_MAX_DOCX_UNPACKED_BYTES)
        raise ParseError("too_large", f"The Word document unpacks to {size}; the limit is {limit}.")


def _add_docx_paragraph(sink: _BlockSink, paragraph: Paragraph) -> None:
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
            text = _normalise(cell.text)
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


# --------------------------------------------------------------------------- HTML

_HTML_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "head",
        "title",
        "meta",
        "link",
        "iframe",
        "object",
        "embed",
        "canvas",
    }
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_HTML_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "ul",
    }
)


def _parse_html(data: bytes) -> list[Block]:
    soup = BeautifulSoup(_decode_or_mismatch(data, HTML), "html.parser")
    walker = _HtmlWalker()
    walker.walk(soup)
    return walker.sink.blocks


class _Flush:
    """Stack marker: the end of a block element."""


_FLUSH = _Flush()


@dataclass
class _HtmlWalker:
    """Walks the DOM once, flushing accumulated inline text at every block boundary."""

    sink: _BlockSink = field(default_factory=_BlockSink)
    buffer: list[str] = field(default_factory=list)

    def walk(self, root: Tag) -> None:
        # An explicit stack rather than recursion: real pages nest divs hundreds deep.
        stack: list[PageElement | _Flush] = list(reversed(root.contents))
        while stack:
            node = stack.pop()
            if isinstance(node, _Flush):
                self.flush()
            elif isinstance(node, Tag):
                stack.extend(self._element(node))
            elif _is_text(node):
                self.buffer.append(str(node))
        self.flush()

    def flush(self) -> None:
        self.sink.paragraph("".join(self.buffer))
        self.buffer.clear()

    def _element(self, tag: Tag) -> list[PageElement | _Flush]:
        """Handle ``tag``; return what still has to be walked, in stack order."""
        name = tag.name.lower()
        if name in _HTML_DROP:
            return []
        if name == "br":
            self.buffer.append("\n")
        elif name in _HTML_HEADINGS:
            self.flush()
            self.sink.heading(_HTML_HEADINGS[name], _html_text(tag))
        elif name == "tr":
            self.flush()
            cells = [
                _normalise(_html_text(cell)) for cell in tag.find_all(["td", "th"], recursive=False)
            ]
            self.sink.add(" | ".join(cell for cell in cells if cell))
        elif name == "pre":
            self.flush()
            self.sink.add(_verbatim(_html_text(tag, keep_layout=True)))
        elif name in _HTML_BLOCKS:
            self.flush()
            return [_FLUSH, *reversed(tag.contents)]
        else:
            return list(reversed(tag.contents))
        return []


def _is_text(node: object) -> bool:
    # Comments, doctypes, CDATA and processing instructions are NavigableStrings too.
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _html_text(tag: Tag, *, keep_layout: bool = False) -> str:
    """The visible text under ``tag``; block children are separated so words do not fuse."""
    parts: list[str] = []
    # Plain ``str`` items on the stack are separators to emit, not document nodes.
    stack: list[PageElement | str] = list(reversed(tag.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            name = node.name.lower()
            if name == "br":
                parts.append("\n")
            elif name not in _HTML_DROP:
                is_block = name in _HTML_BLOCKS or name in _HTML_HEADINGS or name == "tr"
                separator = " " if is_block and not keep_layout else ""
                stack.extend([separator, *reversed(node.contents), separator])
        elif _is_text(node):
            parts.append(str(node))
        elif type(node) is str:
            parts.append(node)
    return "".join(parts)


# --------------------------------------------------------------------------- Markdown

_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?P<marks>=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_MD_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])[ \t]+(?P<body>.*)$")
_BLOCKQUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S")

_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_ESCAPE_BASE = 0xE000
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), r"\1"),
    (re.compile(r"\*(?=\S)(.+?)(?<=\S)\*"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
)


def _parse_markdown(data: bytes) -> list[Block]:
    parser = _MarkdownParser()
    for line in _skip_front_matter(
        _strip_controls(_decode_or_mismatch(data, MARKDOWN)).split("\n")
    ):
        parser.feed(line)
    parser.finish()
    return parser.sink.blocks


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() in {"---", "..."}:
                return lines[index + 1 :]
    return lines


@dataclass
class _MarkdownParser:
    """A line-at-a-time reader for the block structure that matters for retrieval."""

    sink: _BlockSink = field(default_factory=_BlockSink)
    paragraph: list[str] = field(default_factory=list)
    in_list_item: bool = False
    fence: str | None = None
    code: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        if self.fence is not None:
            self._feed_code(line)
            return
        line = _BLOCKQUOTE.sub("", line, count=1)
        if (fence := _FENCE_OPEN.match(line)) is not None:
            self.flush()
            self.fence = fence.group("fence")
        elif not line.strip():
            self.flush()
        elif (heading := _ATX_HEADING.match(line)) is not None:
            self.flush()
            self.sink.heading(
                len(heading.group("hashes")), _strip_inline(heading.group("title") or "")
            )
        elif self._is_setext_underline(line):
            level = 1 if line.strip().startswith("=") else 2
            title = " ".join(self.paragraph)
            self.paragraph.clear()
            self.sink.heading(level, _strip_inline(title))
        elif _THEMATIC_BREAK.match(line) or _LINK_DEFINITION.match(line):
            self.flush()
        elif _TABLE_ROW.match(line):
            self.flush()
            if not _TABLE_RULE.match(line):
                cells = (_strip_inline(cell) for cell in line.strip().strip("|").split("|"))
                self.sink.paragraph(" | ".join(cell.strip() for cell in cells if cell.strip()))
        elif (item := _MD_LIST_ITEM.match(line)) is not None:
            self.flush()
            self.paragraph.append(item.group("body"))
            self.in_list_item = True
        else:
            self.paragraph.append(line.strip())

    def finish(self) -> None:
        if self.fence is not None:
            self._emit_code()
        self.flush()

    def flush(self) -> None:
        if self.paragraph:
            self.sink.paragraph(_strip_inline(" ".join(self.paragraph)))
        self.paragraph.clear()
        self.in_list_item = False

    def _is_setext_underline(self, line: str) -> bool:
        return (
            bool(self.paragraph) and not self.in_list_item and bool(_SETEXT_UNDERLINE.match(line))
        )

    def _feed_code(self, line: str) -> None:
        assert self.fence is not None
        stripped = line.strip()
        closes = set(stripped) == {self.fence[0]} and len(stripped) >= len(self.fence)
        if closes:
            self._emit_code()
            return
        self.code.append(line)

    def _emit_code(self) -> None:
        self.sink.add(_verbatim("\n".join(self.code)))
        self.code.clear()
        self.fence = None


def _strip_inline(text: str) -> str:
    """Markdown inline markup removed; code spans keep their text untouched."""
    pieces: list[str] = []
    position = 0
    for match in _INLINE_CODE.finditer(text):
        pieces.append(_strip_emphasis_and_links(text[position : match.start()]))
        pieces.append(match.group(2).strip())
        position = match.end()
    pieces.append(_strip_emphasis_and_links(text[position:]))
    return "".join(pieces)


def _strip_emphasis_and_links(text: str) -> str:
    # Escaped punctuation is parked in the private-use area so the rules cannot consume it.
    text = _ESCAPED.sub(lambda m: chr(_ESCAPE_BASE + ord(m.group(1))), text)
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return re.sub(
        f"[{chr(_ESCAPE_BASE + 0x21)}-{chr(_ESCAPE_BASE + 0x7E)}]",
        lambda m: chr(ord(m.group(0)) - _ESCAPE_BASE),
        text,
    )


# --------------------------------------------------------------------------- plain text


def _parse_text(data: bytes) -> list[Block]:
    lines = _strip_controls(_decode_or_mismatch(data, TEXT)).split("\n")
    sink = _BlockSink()
    paragraph: list[str] = []
    for line in lines:
        underline = _SETEXT_UNDERLINE.match(line)
        is_rule = underline is not None and len(underline.group("marks")) >= 3
        if is_rule and len(paragraph) == 1:
            sink.heading(1 if "=" in line else 2, paragraph.pop())
        elif is_rule or not line.strip():
            sink.paragraph(" ".join(paragraph))
            paragraph.clear()
        else:
            paragraph.append(line)
    sink.paragraph(" ".join(paragraph))
    return sink.blocks


def _decode_or_mismatch(data: bytes, content_type: str) -> str:
    text = _decode_text(data)
    if text is None:
        raise _mismatch(content_type, "not readable text (save it as UTF-8)")
    return text


_PARSERS: dict[str, Callable[[bytes], Iterable[Block]]] = {
    PDF: _parse_pdf,
    DOCX: _parse_docx,
    HTML: _parse_html,
    MARKDOWN: _parse_markdown,
    TEXT: _parse_text,
}
