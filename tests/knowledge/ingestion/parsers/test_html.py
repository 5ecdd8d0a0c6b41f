"""HTML: visible text, block structure and headings."""

from __future__ import annotations

import pytest

from knowledge.ingestion.parsers import HTML, ParseError, parse
from tests.knowledge.ingestion.parsers.samples import body, reason_of, texts

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Ignored title</title><style>p { color: red }</style></head>
<body>
  <script>var secret = "do not index";</script>
  <noscript>Enable JavaScript</noscript>
  <div>Intro text in a div
    <div><p>Nested &amp; <b>bold</b>   paragraph.</p> tail text</div>
  </div>
  <h1>Accounts</h1>
  <p>Open an account<br>online.</p>
  <!-- a comment -->
  <h2>Fees</h2>
  <ul><li>Monthly: &pound;5</li><li>Parent <ul><li>Child item</li></ul></li></ul>
  <table><thead><tr><th>Card</th><th>Fee</th></tr></thead>
         <tbody><tr><td>Gold</td><td><p>1%</p></td></tr></tbody></table>
  <pre>line 1
    indented line 2</pre>
  <h2>Closing</h2>
  <section><p>Close any time.</p><template><p>hidden</p></template></section>
  <h1>Loans</h1>
  <dl><dt>APR</dt><dd>Annual rate</dd></dl>
  <blockquote>Quoted advice.</blockquote>
</body></html>"""


def test_html_structure() -> None:
    blocks = parse(HTML_PAGE.encode(), HTML)
    assert body(blocks) == [
        ("Intro text in a div", ()),
        ("Nested & bold paragraph.", ()),
        ("tail text", ()),
        ("Open an account online.", ("Accounts",)),
        ("Monthly: £5", ("Accounts", "Fees")),
        ("Parent", ("Accounts", "Fees")),
        ("Child item", ("Accounts", "Fees")),
        ("Card | Fee", ("Accounts", "Fees")),
        ("Gold | 1%", ("Accounts", "Fees")),
        ("line 1\n    indented line 2", ("Accounts", "Fees")),
        ("Close any time.", ("Accounts", "Closing")),
        ("APR", ("Loans",)),
        ("Annual rate", ("Loans",)),
        ("Quoted advice.", ("Loans",)),
    ]
    headings = [block.heading_path for block in blocks if block.is_heading]
    assert headings == [
        ("Accounts",),
        ("Accounts", "Fees"),
        ("Accounts", "Closing"),
        ("Loans",),
    ]


def test_html_drops_scripts_styles_and_head() -> None:
    joined = " ".join(texts(parse(HTML_PAGE.encode(), HTML)))
    for hidden in ("do not index", "color: red", "Ignored title", "Enable JavaScript", "hidden"):
        assert hidden not in joined
    assert "comment" not in joined


def test_deeply_nested_html_does_not_overflow_the_stack() -> None:
    depth = 5000
    page = (
        "<div>" * depth
        + "Deep <b>text</b><h2>"
        + "<span>" * depth
        + "Title</h2>"
        + "</div>" * depth
    )
    blocks = parse(page.encode(), HTML)
    assert [(block.text, block.heading_path) for block in blocks] == [
        ("Deep text", ()),
        ("Title", ("Title",)),
    ]


def test_html_in_legacy_encoding() -> None:
    blocks = parse("<p>Caf\u00e9 &euro; fees</p>".encode("cp1252"), HTML)
    assert texts(blocks) == ["Caf\u00e9 \u20ac fees"]


def test_html_without_visible_text_is_empty() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"<html><head><title>T</title></head><body><script>x()</script></body></html>", HTML)
    assert reason_of(excinfo) == "empty"
