"""Answers rendered as safe HTML: nothing runs, nothing loads or links outside the portal."""

from __future__ import annotations

import re

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


def test_no_link_from_the_text_even_to_the_portal() -> None:
    # Answer text may carry document text: a link written there must not go live.
    for text in (
        "[the policy](/knowledge/documents/3/)",
        "[refund form](/forms/refund/ 'Refund')",
        "[the form][ref]\n\n[ref]: /forms/refund/",
        "<https://evil.example/x> and <mailto:a@example.com>",
    ):
        html = render_answer(text, {})
        assert "<a" not in html and "href" not in html, text
    html = render_answer("See [the policy](/knowledge/documents/3/).", {})
    assert html == "<p>See the policy.</p>"  # its text alone


def test_only_the_pipelines_citations_are_links() -> None:
    html = render_answer("Ten days [1]. See [the form](/forms/x/) and [2](/admin/).", CITATIONS)
    anchors = re.findall(r"<a [^>]*>", html)
    assert len(anchors) == 2 and all('class="citation"' in a for a in anchors)
    assert set(re.findall(r'href="([^"]*)"', html)) == set(CITATIONS.values())


def test_markers_made_by_the_rendering_are_not_citations() -> None:
    # Escaped brackets and entities render as "[2]" but were never a marker in the text.
    for text in ("Fees \\[2\\] apply [1].", "Fees &#91;2&#93; apply [1].", "Fees [1]."):
        html = render_answer(text, CITATIONS)
        assert html.count('class="citation"') == 1, text
        assert 'href="/knowledge/documents/7/"' not in html, text


def test_placeholder_characters_in_the_text_are_dropped() -> None:
    html = render_answer("Forged \ue0002\ue001 and real [1].", CITATIONS)
    assert html.count('class="citation"') == 1 and "\ue000" not in html
    assert 'href="/knowledge/documents/7/"' not in html


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
    html = render_answer("```\nitems[2]\n```\n\nSee [1].", CITATIONS)
    assert "items[2]" in html and html.count('class="citation"') == 1


def test_absolute_citation_url_is_not_linked() -> None:
    # A citation URL cannot smuggle an absolute link past the sanitizer.
    html = render_answer("See [1].", {1: "https://evil.example/"})
    assert "evil.example" not in html
    assert "[1]" in html


def test_event_handlers_never_survive() -> None:
    html = render_answer('<a href="/x" onclick="alert(1)">l</a> <p onmouseover=x>t</p>', {})
    assert "<a " not in html and "<p " not in html
