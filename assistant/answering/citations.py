"""Citation markers in an answer's text: ``[n]`` refers to source ``n`` of this answer."""

from __future__ import annotations

import re

# A marker with the blanks before it (removed together, so no space is left dangling).
CITATION = re.compile(r"[ \t]*\[(\d{1,4})\]")


def strip_citations(text: str) -> str:
    """``text`` without its markers (an earlier turn, whose sources are not given again)."""
    return CITATION.sub("", text)


def check_citations(text: str, valid: set[int]) -> tuple[str, list[int], list[int]]:
    """Remove markers citing numbers that were not given; (text, kept, removed) in order."""
    kept: list[int] = []
    removed: list[int] = []

    def replace(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number in valid:
            if number not in kept:
                kept.append(number)
            return match.group(0)
        removed.append(number)
        return ""

    return CITATION.sub(replace, text), kept, removed
