"""The parsers' work limits as configured (``KNOWLEDGE_MAX_*`` settings; docs/knowledge.md)."""

from __future__ import annotations

from django.conf import settings

from knowledge.ingestion.parsers import Limits


def parse_limits() -> Limits:
    return Limits(
        max_unpacked_bytes=settings.KNOWLEDGE_MAX_UNPACKED_BYTES,
        max_elements=settings.KNOWLEDGE_MAX_ELEMENTS,
        max_text_bytes=settings.KNOWLEDGE_MAX_TEXT_BYTES,
        max_pdf_pages=settings.KNOWLEDGE_MAX_PDF_PAGES,
        max_pdf_operations=settings.KNOWLEDGE_MAX_PDF_OPERATIONS,
    )
