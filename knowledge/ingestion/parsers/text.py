"""Plain text: blank lines end paragraphs; a line underlined with === or --- is a heading."""

from __future__ import annotations

import re

from .common import (
    Block,
    Format,
    Limits,
    check_text_size,
    decode_or_mismatch,
    sink_for,
    strip_controls,
)

TEXT = "text/plain"

_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?P<marks>=+|-+)[ \t]*$")


def parse_text(data: bytes, limits: Limits) -> list[Block]:
    precheck_text(data, limits)
    lines = strip_controls(decode_or_mismatch(data, FORMAT)).split("\n")
    sink = sink_for(limits)
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


def precheck_text(data: bytes, limits: Limits) -> None:
    check_text_size(data, limits, FORMAT)


FORMAT = Format(
    content_type=TEXT,
    name="plain-text file",
    label="plain text",
    extensions=(".txt",),
    parse=parse_text,
    no_text="No text could be extracted: the file contains only whitespace.",
    precheck=precheck_text,
)
