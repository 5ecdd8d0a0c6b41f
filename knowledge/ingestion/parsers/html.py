"""HTML: visible text only, block elements as paragraphs, h1-h6 as the outline.

The page is tokenised by lxml (libxml2: linear time; Python's html.parser takes quadratic
time on some malformed input, e.g. ``<a<a<a...``) into a BeautifulSoup tree, which costs
tens of microseconds and about a kilobyte per element: the number of elements is checked
against ``Limits.max_elements`` before the tree is built. The tree is then walked with an
explicit stack, never recursively, so nesting depth costs nothing extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from .common import (
    Block,
    BlockSink,
    Format,
    Limits,
    decode_or_mismatch,
    format_count,
    normalise,
    sink_for,
    too_complex,
    verbatim,
)

HTML = "text/html"

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


# A start tag is "<" and an ASCII letter (HTML's tokenizer); text in scripts and comments
# may match too, so this counts at least every element.
_START_TAG = re.compile(rb"<[A-Za-z]")


def precheck_html(data: bytes, limits: Limits) -> None:
    # Counted without a list of matches: a hostile page may hold millions.
    for count, _ in enumerate(_START_TAG.finditer(data), start=1):
        if count > limits.max_elements:
            raise too_complex(
                f"The HTML page has over {format_count(limits.max_elements)} elements, the "
                "limit. Split it into smaller pages."
            )


def parse_html(data: bytes, limits: Limits) -> list[Block]:
    precheck_html(data, limits)
    # NUL is never text (libxml2 would turn it into U+FFFD).
    text = decode_or_mismatch(data, FORMAT).replace("\x00", "")
    soup = BeautifulSoup(text, "lxml")
    walker = _HtmlWalker(sink_for(limits))
    walker.walk(soup)
    return walker.sink.blocks


class _Flush:
    """Stack marker: the end of a block element."""


_FLUSH = _Flush()


@dataclass
class _HtmlWalker:
    """Walks the DOM once, flushing accumulated inline text at every block boundary."""

    sink: BlockSink
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
                normalise(_html_text(cell)) for cell in tag.find_all(["td", "th"], recursive=False)
            ]
            self.sink.add(" | ".join(cell for cell in cells if cell))
        elif name == "pre":
            self.flush()
            self.sink.add(verbatim(_html_text(tag, keep_layout=True)))
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


FORMAT = Format(
    content_type=HTML,
    name="HTML page",
    label="HTML",
    extensions=(".html", ".htm"),
    parse=parse_html,
    no_text="No text could be extracted: the HTML page has no visible text.",
    aliases=("application/xhtml+xml",),
    article="an",
    precheck=precheck_html,
)
