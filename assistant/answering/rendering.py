"""Answers as safe HTML: markdown -> HTML (raw HTML escaped), citation markers -> links,
then an allow-list sanitizer. Nothing in an answer can load from or link outside the portal.
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

_CITATION = re.compile(r"\[(\d{1,4})\]")
# Citation markers are linked only in text, never inside tags, code or existing links.
_SKIP_BLOCKS = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>|<a\b.*?</a>|<[^>]*>)", re.S)


def _image_as_text(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """No images at all: an image is shown as its (escaped) alt text."""
    return str(escape(self.renderInlineAsText(tokens[idx].children or [], options, env)))


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", _image_as_text)
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


def _link_citations(html: str, citation_urls: dict[int, str]) -> str:
    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        url = citation_urls.get(number)
        if url is None:
            return match.group(0)
        return f'<a class="citation" href="{escape(url)}">[{number}]</a>'

    parts = _SKIP_BLOCKS.split(html)
    return "".join(
        part if index % 2 else _CITATION.sub(link, part) for index, part in enumerate(parts)
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
    """Safe HTML for an answer; ``[n]`` becomes a link only when ``n`` is in citation_urls."""
    html = _markdown().render(markdown_text or "")
    return sanitize(_link_citations(html, citation_urls)).strip()
