"""Turn uploaded documents (PDF, DOCX, HTML, Markdown, plain text) into blocks of text.

``detect_content_type`` decides what an upload is (declared type checked against its
content); ``parse`` turns its bytes into ``Block``s in reading order, each with the
headings it sits under. Both raise ``ParseError`` with a short ``reason`` code and a
sentence for the uploader.

Layout:
    common.py    Block, ParseError, Format, the heading outline and text clean-up
    detect.py    content-type detection and magic-byte sniffing
    registry.py  FORMATS (the supported formats) and ``parse`` dispatching on them
    pdf.py, docx.py, html.py, markdown.py, text.py: one module per format

Adding a format:
    1. Write ``<format>.py`` with its content-type constant, a ``parse_<format>(data:
       bytes) -> list[Block]`` built on ``common.BlockSink``, and at the bottom
       ``FORMAT = Format(content_type=..., name=..., label=..., extensions=(...),
       parse=parse_<format>, no_text=...)``.
    2. Register it: add ``<format>.FORMAT`` to ``FORMATS`` in registry.py. Extensions,
       MIME aliases, the supported-types list and the messages all follow from it.
    3. Only for a binary format: recognise its magic bytes in ``detect._check_magic``
       (any other format is checked as text, UTF-8 or cp1252).
"""

from __future__ import annotations

from .common import Block, Format, ParseError
from .detect import detect_content_type
from .docx import DOCX
from .html import HTML
from .markdown import MARKDOWN
from .pdf import PDF
from .registry import EXTENSIONS, FORMATS, SUPPORTED_TYPES, parse
from .text import TEXT

__all__ = [
    "DOCX",
    "EXTENSIONS",
    "FORMATS",
    "HTML",
    "MARKDOWN",
    "PDF",
    "SUPPORTED_TYPES",
    "TEXT",
    "Block",
    "Format",
    "ParseError",
    "detect_content_type",
    "parse",
]
