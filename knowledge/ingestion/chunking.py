"""Split parsed blocks into overlapping, section-aware chunks sized for the embedding model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from knowledge.ingestion import tokens
from knowledge.ingestion.parsers import Block

TokenCounter = Callable[[str], int]
_Measure = Callable[[list["_Unit"]], int]

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk ready to embed; ``text`` excludes the heading path, which travels separately."""

    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    token_count: int
    content_hash: str


@dataclass(frozen=True, eq=False)
class _Paragraph:
    text: str
    page: int | None


@dataclass(frozen=True, eq=False)
class _Unit:
    """A sentence (or hard-split piece of one): a span of its paragraph and its token count."""

    paragraph: _Paragraph
    start: int
    end: int
    tokens: int

    @property
    def text(self) -> str:
        return self.paragraph.text[self.start : self.end]


@dataclass(frozen=True)
class _Section:
    heading_path: tuple[str, ...]
    paragraphs: tuple[_Paragraph, ...]


def chunk_blocks(
    blocks: Sequence[Block],
    *,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count_tokens: TokenCounter = tokens.count_tokens,
) -> list[ChunkDraft]:
    """Section-aware chunks of whole paragraphs, at most max_tokens tokens each, with overlap."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    packer = _Packer(max_tokens, max(overlap_tokens, 0), count_tokens)
    drafts: list[ChunkDraft] = []
    for section in _sections(blocks):
        for units, token_count in packer.pack(section.paragraphs):
            text = _join(units)
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    text=text,
                    heading_path=section.heading_path,
                    page=units[0].paragraph.page,
                    token_count=token_count,
                    content_hash=content_hash(section.heading_path, text),
                )
            )
    return drafts


def content_hash(heading_path: Sequence[str], text: str) -> str:
    """The sha256 hex that identifies a chunk's content for embedding reuse."""
    payload = "\x1f".join(heading_path) + "\x1e" + text
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- sections


def _sections(blocks: Sequence[Block]) -> Iterator[_Section]:
    """Runs of body blocks under one heading; a heading block always opens a new section."""
    useful = [block for block in blocks if block.text.strip()]
    if useful and all(block.is_heading for block in useful):
        # Nothing but headings: keep them as text rather than lose the document.
        yield _Section((), tuple(_Paragraph(block.text.strip(), block.page) for block in useful))
        return
    section_number = 0
    keyed: list[tuple[int, Block]] = []
    for block in useful:
        if block.is_heading:
            section_number += 1
        else:
            keyed.append((section_number, block))
    for _, run in groupby(keyed, key=lambda item: (item[0], item[1].heading_path)):
        members = [block for _, block in run]
        paragraphs = tuple(_Paragraph(block.text.strip(), block.page) for block in members)
        yield _Section(members[0].heading_path, paragraphs)


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class _Packer:
    max_tokens: int
    overlap_tokens: int
    count: TokenCounter

    def pack(self, paragraphs: Sequence[_Paragraph]) -> Iterator[tuple[list[_Unit], int]]:
        """Chunks of one section as (units, exact token count)."""
        # Each sentence is counted once and chunks are sized by summing: WordPiece (like a
        # word count) is additive over whitespace-separated text, and re-encoding every
        # candidate chunk would make packing several times slower.
        for units in self._greedy(self._groups(paragraphs), _estimate):
            exact = self.count(_join(units))
            if exact <= self.max_tokens:
                yield units, exact
                continue
            # A counter that is not additive: re-pack this stretch measuring real text.
            for part in self._greedy(([unit] for unit in units), self._exact):
                yield part, self.count(_join(part))

    def _greedy(self, groups: Iterable[list[_Unit]], measure: _Measure) -> Iterator[list[_Unit]]:
        """Greedy packing of groups; a closed chunk's trailing sentences open the next."""
        current: list[_Unit] = []
        for group in groups:
            if not current or measure(current + group) <= self.max_tokens:
                current += group
                continue
            yield current
            current = self._overlap(current, group, measure) + group
        if current:
            yield current

    def _overlap(
        self, previous: list[_Unit], following: list[_Unit], measure: _Measure
    ) -> list[_Unit]:
        """Trailing whole sentences of ``previous`` within the overlap budget and chunk limit."""
        taken: list[_Unit] = []
        for unit in reversed(previous):
            if measure([unit, *taken]) > self.overlap_tokens:
                break
            taken.insert(0, unit)
        # Drop the oldest overlap sentences until the next chunk's first content fits.
        while taken and measure(taken + following) > self.max_tokens:
            taken.pop(0)
        return taken

    def _exact(self, units: list[_Unit]) -> int:
        return self.count(_join(units))

    def _groups(self, paragraphs: Sequence[_Paragraph]) -> Iterator[list[_Unit]]:
        """Units that must stay together: a whole paragraph if it fits, else each sentence."""
        for paragraph in paragraphs:
            sentences = list(self._sentences(paragraph))
            if _estimate(sentences) <= self.max_tokens:
                # Kept as sentences all the same, so a later chunk can overlap with its tail.
                yield sentences
                continue
            for sentence in sentences:
                yield from ([piece] for piece in self._within_budget(sentence))

    def _sentences(self, paragraph: _Paragraph) -> Iterator[_Unit]:
        start = 0
        for match in _SENTENCE_BREAK.finditer(paragraph.text):
            yield self._unit(paragraph, start, match.start())
            start = match.end()
        yield self._unit(paragraph, start, len(paragraph.text))

    def _unit(self, paragraph: _Paragraph, start: int, end: int) -> _Unit:
        return _Unit(paragraph, start, end, self.count(paragraph.text[start:end]))

    def _within_budget(self, unit: _Unit) -> Iterator[_Unit]:
        if unit.tokens <= self.max_tokens:
            yield unit
            return
        cursor = unit.start
        for piece in tokens.split_to_token_budget(unit.text, self.max_tokens):
            # Pieces are stripped substrings, so locating them keeps exact spans.
            start = unit.paragraph.text.index(piece, cursor)
            cursor = start + len(piece)
            yield from self._words_within_budget(self._unit(unit.paragraph, start, cursor))

    def _words_within_budget(self, unit: _Unit) -> Iterator[_Unit]:
        """Last resort for a custom counter that disagrees with the model tokenizer."""
        if unit.tokens <= self.max_tokens:
            yield unit
            return
        words = [
            (unit.start + match.start(), unit.start + match.end())
            for match in _WORD.finditer(unit.text)
        ]
        start, end = words[0]
        for word_start, word_end in words[1:]:
            if self.count(unit.paragraph.text[start:word_end]) <= self.max_tokens:
                end = word_end
                continue
            yield self._unit(unit.paragraph, start, end)
            start, end = word_start, word_end
        # A single word over budget cannot be split further without cutting characters.
        yield self._unit(unit.paragraph, start, end)


def _estimate(units: list[_Unit]) -> int:
    return sum(unit.tokens for unit in units)


def _join(units: list[_Unit]) -> str:
    """Sentences keep their paragraph's original spacing; paragraphs join with a blank line."""
    parts: list[str] = []
    for _, run in groupby(units, key=lambda unit: id(unit.paragraph)):
        members = list(run)
        parts.append(members[0].paragraph.text[members[0].start : members[-1].end])
    return "\n\n".join(parts)
