"""Sizes as people read them, the same everywhere (messages, pages, docs).

Binary units labelled the usual way: ``KNOWLEDGE_MAX_UPLOAD_BYTES`` = 26214400 is "25 MB",
as the docs say it.
"""

from __future__ import annotations

KB = 1024
MB = 1024 * KB


def format_size(size: int) -> str:
    """``12 bytes``, ``300 KB``, ``2.5 MB``, ``25 MB`` (one decimal, dropped when zero)."""
    if size < KB:
        return f"{size} byte" if size == 1 else f"{size} bytes"
    unit, scale = ("MB", MB) if size >= MB else ("KB", KB)
    return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"


def csv_safe(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
