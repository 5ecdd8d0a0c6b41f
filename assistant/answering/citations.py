"""Citation markers in an answer's text: ``[n]`` refers to source ``n`` of this answer.

Only the model (or the pipeline) writes markers: the text of the sources is neutralised
before anyone reads it (``neutralise_markers``), so a ``[2]`` written inside a document is
shown with full-width brackets (U+FF3B, U+FF3D), which neither the check nor the rendering takes
for a citation.
"""

from __future__ import annotations

import re

# A marker with the blanks before it (removed together, so no space is left dangling).
CITATION = re.compile(r"[ \t]*\[([0-9]{1,4})\]")
_MARKER_IN_SOURCE = re.compile(r"\[([0-9]{1,4})\]")


def neutralise_markers(text: str) -> str:
    """``text`` of a source with its ``[n]`` in full-width brackets: never a citation marker."""
    return _MARKER_IN_SOURCE.sub(lambda match: f"\uff3b{match.group(1)}\uff3d", text)


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
