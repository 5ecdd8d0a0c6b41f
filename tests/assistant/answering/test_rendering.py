"""Answers rendered as safe HTML: nothing runs, nothing loads or links outside the portal."""

from __future__ import annotations

from assistant.answering.rendering import render_answer

CITATIONS = {1: "/knowledge/documents/5/#chunk-12", 2: "/knowledge/documents/7/"}


def test_markdown_is_rendered() -> None:
    html = render_answer("# Title\n\n**bold** and *em*\n\n- one\n- two\n\n`code`", {})
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<ul>" in html and "<li>one</li>" in html
    assert "<code>code</code>" in html


def test_script_is_escaped() -> None:
    html = render_answer("Hello <script>alert(1)</script>", {})
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_img_onerror_is_inert() -> None:
    html = render_answer('<img src=x onerror="alert(1)">', {})
    assert "<img" not in html


def test_javascript_link_is_not_a_link() -> None:
    for text in ("[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](data:text/html,hi)"):
        html = render_answer(text, {})
        assert "href" not in html, text
        assert "x" in html


def test_no_images_at_all() -> None:
    html = render_answer("![a chart](https://evil.example/x.png) and ![b](/static/x.png)", {})
    assert "<img" not in html and "evil.example" not in html and "/static/x.png" not in html
    assert "a chart" in html


def test_external_link_keeps_text_only() -> None:
    for url in ("https://evil.example", "http://evil.example/x", "//evil.example/x"):
        html = render_answer(f"[click here]({url})", {})
        assert "click here" in html
        assert "evil.example" not in html
        assert "href" not in html


def test_relative_link_is_kept_with_rel() -> None:
    html = render_answer("[the policy](/knowledge/documents/3/)", {})
    assert '<a href="/knowledge/documents/3/" rel="noopener noreferrer">the policy</a>' in html


def test_citations_linked_only_when_known() -> None:
    html = render_answer("Ten days [1], see also [2] and [9].", CITATIONS)
    assert (
        '<a class="citation" href="/knowledge/documents/5/#chunk-12" '
        'rel="noopener noreferrer">[1]</a>'
    ) in html
    assert 'href="/knowledge/documents/7/"' in html
    assert "[9]" in html and html.count("citation") == 2


def test_citations_not_linked_inside_code() -> None:
    html = render_answer("Use `items[1]` here [1].", CITATIONS)
    assert "<code>items[1]</code>" in html
    assert html.count('class="citation"') == 1


def test_absolute_citation_url_is_not_linked() -> None:
    # A citation URL cannot smuggle an absolute link past the sanitizer.
    html = render_answer("See [1].", {1: "https://evil.example/"})
    assert "evil.example" not in html
    assert "[1]" in html


def test_event_handlers_never_survive() -> None:
    html = render_answer('<a href="/x" onclick="alert(1)">l</a> <p onmouseover=x>t</p>', {})
    assert "<a " not in html and "<p " not in html
