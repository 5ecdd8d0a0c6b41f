"""Markdown: CommonMark (plus tables and strikethrough) read from markdown-it-py's tokens.

Headings make the outline; paragraphs, list items, block quotes and table rows become
blocks with their inline markup dropped (links and images keep their text, code spans
their content); code blocks are kept verbatim; YAML front matter is skipped.

markdown-it-py works in time linear in the input times its nesting cap, and no regular
expression here touches the document's text, so hostile input (thousands of backticks,
brackets or stars) costs about as much as an ordinary file of the same size. The block
structure and the inline text are parsed with separate caps: markdown-it silently drops
the rest of a document once its block nesting passes the cap, so that one is generous,
while the inline cap multiplies the cost of every unclosed ``[`` and stays small.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from markdown_it import MarkdownIt

from .common import (
    Block,
    Format,
    Limits,
    check_text_size,
    decode_or_mismatch,
    normalise,
    sink_for,
    strip_controls,
    verbatim,
)

MARKDOWN = "text/markdown"

# Inline tokens whose content is document text; everything else (emphasis and link
# open/close markers, ...) only carries markup.
_TEXT_TOKENS = frozenset({"text", "text_special", "code_inline"})
_LINE_BREAKS = frozenset({"softbreak", "hardbreak"})
_CODE_BLOCKS = frozenset({"fence", "code_block"})


# Lists nest two levels deep each (list, item), so this allows 50 nested lists.
_BLOCK_NESTING = 100
_INLINE_NESTING = 20  # the CommonMark preset's cap, for links inside link labels


@cache
def _block_parser() -> MarkdownIt:
    """Block structure only; each inline token's text is parsed by ``_inline_parser``."""
    # Raw HTML stays literal text ({"html": False}), as it always has for this parser.
    options = {"html": False, "maxNesting": _BLOCK_NESTING}
    return MarkdownIt("commonmark", options).enable("table").disable("inline")


@cache
def _inline_parser() -> MarkdownIt:
    options = {"html": False, "maxNesting": _INLINE_NESTING}
    return MarkdownIt("commonmark", options).enable("strikethrough")


def parse_markdown(data: bytes, limits: Limits) -> list[Block]:
    precheck_markdown(data, limits)
    lines = strip_controls(decode_or_mismatch(data, FORMAT)).split("\n")
    source = "\n".join(_skip_front_matter(lines))
    sink = sink_for(limits)
    heading_level: int | None = None
    row: list[str] | None = None
    env: dict[str, Any] = {}  # link reference definitions, shared by both passes
    for token in _block_parser().parse(source, env):
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type == "heading_close":
            heading_level = None
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            sink.paragraph(" | ".join(cell for cell in row if cell))
            row = None
        elif token.type in _CODE_BLOCKS:
            sink.add(verbatim(token.content))
        elif token.type == "inline":
            text = _inline_text(token.content, env)
            if row is not None:
                row.append(normalise(text))
            elif heading_level is not None:
                sink.heading(heading_level, text)
            else:
                sink.paragraph(text)
    return sink.blocks


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() in {"---", "..."}:
                return lines[index + 1 :]
    return lines


def _inline_text(source: str, env: dict[str, Any]) -> str:
    """Inline Markdown as plain text: markup dropped, links and images as their text."""
    parts: list[str] = []
    # An explicit stack: image alt text is itself a list of inline tokens.
    stack = [
        child
        for inline in _inline_parser().parseInline(source, env)
        for child in inline.children or []
    ]
    stack.reverse()
    while stack:
        child = stack.pop()
        if child.type in _TEXT_TOKENS:
            parts.append(child.content)
        elif child.type in _LINE_BREAKS:
            parts.append("\n")
        elif child.type == "image":
            stack.extend(reversed(child.children or []))
    return "".join(parts)


def precheck_markdown(data: bytes, limits: Limits) -> None:
    # Linear, but hostile markup (runs of brackets, stars) costs ~20 us a byte against
    # ~1.5 for prose: the source size is what bounds the parse.
    check_text_size(data, limits, FORMAT)


FORMAT = Format(
    content_type=MARKDOWN,
    name="Markdown file",
    label="Markdown",
    extensions=(".md", ".markdown"),
    parse=parse_markdown,
    no_text="No text could be extracted: the Markdown file contains no text.",
    aliases=("text/x-markdown",),
    precheck=precheck_markdown,
)
