"""Turn uploaded documents (PDF, DOCX, HTML, Markdown, plain text) into blocks of text.

``detect_content_type`` decides what an upload is (declared type checked against its
content); ``precheck`` checks its bytes against the format's ``Limits`` without parsing;
``parse`` turns its bytes into ``Block``s in reading order, each with the headings it sits
under, within ``Limits`` (how much work a document may cost: unpacked size, elements,
pages, text). All raise ``ParseError`` with a short ``reason`` code and a sentence for the
uploader.

Layout:
    common.py    Block, ParseError, Format, Limits, the heading outline and text clean-up
    detect.py    content-type detection and magic-byte sniffing
    registry.py  FORMATS (the supported formats), ``precheck`` and ``parse`` dispatching on them
    pdf.py, docx.py, html.py, markdown.py, text.py: one module per format

Adding a format:
    1. Write ``<format>.py`` with its content-type constant, a ``parse_<format>(data:
       bytes, limits: Limits) -> list[Block]`` built on ``common.BlockSink`` that bounds
       its work by ``limits`` before the expensive step (optionally a cheap
       ``precheck_<format>(data, limits)`` run at upload too), and at the bottom
       ``FORMAT = Format(content_type=..., name=..., label=..., extensions=(...),
       parse=parse_<format>, no_text=..., precheck=...)``.
    2. Register it: add ``<format>.FORMAT`` to ``FORMATS`` in registry.py. Extensions,
       MIME aliases, the supported-types list and the messages all follow from it.
    3. Only for a binary format: recognise its magic bytes in ``detect._check_magic``
       (any other format is checked as text, UTF-8 or cp1252).
"""

from __future__ import annotations

from .common import DEFAULT_LIMITS, Block, Format, Limits, ParseError
from .detect import detect_content_type
from .docx import DOCX
from .html import HTML
from .markdown import MARKDOWN
from .pdf import PDF
from .registry import EXTENSIONS, FORMATS, SUPPORTED_TYPES, parse, precheck
from .text import TEXT

__all__ = [
    "DEFAULT_LIMITS",
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
    "Limits",
    "ParseError",
    "detect_content_type",
    "parse",
    "precheck",
]
