"""The built-in answerer when no language model is configured: the sentences of the sources
that share the most terms with the question, each with its citation, in source order.

A copied sentence never carries a citation marker of its own: ``[n]`` in it is written with
full-width brackets; the only markers are the ones added here, each naming the sentence's source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answering.citations import neutralise_markers

PREFIX = "Extracted from the sources (no language model is configured):"
NO_ANSWER = "The sources found do not answer this question."
WEAK_PREFIX = (
    "The sources do not answer this directly (no language model is configured). "
    "The closest passages of the best-matching sources:"
)
WEAK_SOURCES = 2  # a weak match is only taken from the best-ranked sources
WEAK_SENTENCES = 2
MAX_SENTENCES = 3
MAX_PER_SOURCE = 2
MIN_SCORE = 1.5  # one shared term is enough only when it is half the question

_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves may must shall also please tell know"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")


@dataclass(frozen=True)
class Source:
    number: int
    text: str
    title: str = ""


@dataclass(frozen=True)
class ExtractiveAnswer:
    text_markdown: str
    cited: list[int]


def normalise(word: str) -> str:
    """A light stemmer: plurals and a few common suffixes (disputes, disputed -> dispute)."""
    word = word.split("'")[0]
    if len(word) <= 3:
        return word
    for suffix, replacement in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ss", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("ss"):
        return word
    return word.rstrip("e") if len(word) > 4 else word


def terms(text: str) -> set[str]:
    return {
        normalise(word)
        for word in _WORD.findall(text.lower())
        if word not in STOP_WORDS and len(word) > 1
    }


def split_sentences(text: str) -> list[str]:
    pieces = _SENTENCE_END.split(neutralise_markers(text))
    return [" ".join(piece.split()) for piece in pieces if piece and piece.strip()]


def extractive_answer(question: str, sources: list[Source]) -> ExtractiveAnswer:
    wanted = terms(question)
    candidates: list[tuple[float, int, int, str, int]] = []  # score, order keys, text, source
    weak: list[tuple[float, int, int, str, int]] = []
    for source_index, source in enumerate(sources):
        for sentence_index, sentence in enumerate(split_sentences(source.text)):
            overlap = wanted & terms(sentence)
            if not overlap:
                continue
            # Shared terms count, plus the share of the question's terms covered.
            score = len(overlap) + len(overlap) / max(len(wanted), 1)
            entry = (score, source_index, sentence_index, sentence, source.number)
            if score >= MIN_SCORE:
                candidates.append(entry)
            elif source_index < WEAK_SOURCES:
                weak.append(entry)
    if not candidates and weak:
        # Retrieval ranked these sources first (by meaning, too): show their closest
        # sentences, saying plainly that they are not a direct answer.
        weak.sort(key=lambda c: (-c[0], c[1], c[2]))
        chosen_weak = sorted(weak[:WEAK_SENTENCES], key=lambda c: (c[1], c[2]))
        lines = [f"- {sentence} [{number}]" for _, _, _, sentence, number in chosen_weak]
        cited = list(dict.fromkeys(number for *_, number in chosen_weak))
        return ExtractiveAnswer(text_markdown=WEAK_PREFIX + "\n\n" + "\n".join(lines), cited=cited)
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[tuple[float, int, int, str, int]] = []
    per_source: dict[int, int] = {}
    for candidate in candidates:
        if per_source.get(candidate[1], 0) >= MAX_PER_SOURCE:
            continue
        chosen.append(candidate)
        per_source[candidate[1]] = per_source.get(candidate[1], 0) + 1
        if len(chosen) == MAX_SENTENCES:
            break
    if not chosen:
        return ExtractiveAnswer(text_markdown=NO_ANSWER, cited=[])
    chosen.sort(key=lambda c: (c[1], c[2]))
    lines = [f"- {sentence} [{number}]" for _, _, _, sentence, number in chosen]
    cited = list(dict.fromkeys(number for *_, number in chosen))
    return ExtractiveAnswer(text_markdown=PREFIX + "\n\n" + "\n".join(lines), cited=cited)
