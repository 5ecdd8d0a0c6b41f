"""Answers as safe HTML: markdown -> HTML (raw HTML escaped), citation markers -> links,
then an allow-list sanitizer. Nothing in an answer can load from or link outside the portal.

The only links in an answer are the citation links the pipeline builds, for the ``[n]``
markers the citation check kept. Markdown links, autolinks and reference links in the text
show as their text alone: an answer's text may carry document text (quoted by the model or
copied by the extractive answerer), and a link written in a document must not become a
live portal link. A marker is linked only where ``[n]`` is written in the Markdown
itself, never where the rendering makes one (``\\[2\\]``, ``&#91;2&#93;``) nor inside code.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import nh3
from django.utils.html import escape
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "class"}}
# Tags removed together with their content (the rest are unwrapped, keeping the text).
DROPPED_WITH_CONTENT = {"script", "style"}

_CITATION = re.compile(r"\[([0-9]{1,4})\]")
# A kept marker while the Markdown is rendered: private-use characters around its number
# (removed from the text first, so that only the pipeline's markers carry them).
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}([0-9]{{1,4}}){_CLOSE}")
# Citation markers are linked only in text, never inside tags, code or existing links.
_SKIP_BLOCKS = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>|<a\b.*?</a>|<[^>]*>)", re.S)


def _image_as_text(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """No images at all: an image is shown as its (escaped) alt text."""
    return str(escape(self.renderInlineAsText(tokens[idx].children or [], options, env)))


def _no_link(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return ""


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", _image_as_text)
    # No links from the text (see the module's docstring): a link shows as its text.
    md.add_render_rule("link_open", _no_link)
    md.add_render_rule("link_close", _no_link)
    return md


def _is_internal(url: str) -> bool:
    """A relative URL: no scheme, no host (``//host`` and ``\\\\host`` are absolute too)."""
    value = url.strip()
    if not value or value.startswith(("//", "\\\\", "/\\", "\\/")):
        return False
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:", value) is None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        return value if _is_internal(value) else None
    if tag == "a" and attribute == "class":
        return "citation" if value == "citation" else None
    return value


def _mark_citations(markdown_text: str, citation_urls: dict[int, str]) -> str:
    """The Markdown with each ``[n]`` of ``citation_urls`` turned into a placeholder."""
    text = markdown_text.replace(_OPEN, "").replace(_CLOSE, "")

    def mark(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return f"{_OPEN}{number}{_CLOSE}" if number in citation_urls else match.group(0)

    return _CITATION.sub(mark, text)


def _link_citations(html: str, citation_urls: dict[int, str]) -> str:
    """The placeholders as citation links in text; as the plain ``[n]`` elsewhere."""

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return f'<a class="citation" href="{escape(citation_urls[number])}">[{number}]</a>'

    def plain(match: re.Match[str]) -> str:
        return f"[{match.group(1)}]"

    parts = _SKIP_BLOCKS.split(html)
    return "".join(
        _PLACEHOLDER.sub(plain if index % 2 else link, part) for index, part in enumerate(parts)
    )


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=set(),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_answer(markdown_text: str, citation_urls: dict[int, str]) -> str:
    """Safe HTML for an answer; ``[n]`` becomes a link only when ``n`` is in citation_urls,
    and no other link is made."""
    html = _markdown().render(_mark_citations(markdown_text or "", citation_urls))
    return sanitize(_link_citations(html, citation_urls)).strip()
