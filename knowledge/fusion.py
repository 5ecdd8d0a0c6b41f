"""Fusion of the two search sides, and fitting a collection's weight from golden questions.

Pure functions (no database): ``chunk_search`` and ``evaluate_retrieval`` hand them each
side's ranked list with its scores.

``convex``: a convex combination of min-max normalised scores (Bruch, Gai & Ingber 2023,
"An Analysis of Fusion Functions for Hybrid Retrieval"): each side's scores are scaled to
[0, 1] over the candidates that side returned, a chunk missing from a side gets 0 there,
and the fused score is ``w * dense + (1 - w) * keyword``. Unlike reciprocal rank fusion it
keeps how far apart the candidates are, not only their order, and ``w`` moves it all the
way between the two sides: a collection whose golden questions say one side is clearly
better gets (close to) that side, so hybrid is not worse than its better part there.

``fit_dense_weight`` picks ``w`` on a grid by mean nDCG@10 over golden questions; with
fewer than ``MIN_GOLDEN_QUESTIONS`` there is nothing to fit and the default stands.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from knowledge.evaluation import documents_from_chunks, ndcg_at_k

Scored = Sequence[tuple[int, float]]  # (chunk id, the side's own score), best first

GRID = tuple(round(step * 0.05, 2) for step in range(21))  # 0.0, 0.05, ..., 1.0
MIN_GOLDEN_QUESTIONS = 5
FOUND = 1e-9


def rrf(rankings: Sequence[Scored], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists a chunk appears in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def min_max(scored: Scored) -> dict[int, float]:
    """Scores scaled to [0, 1] over the list (all 1.0 when they are equal)."""
    if not scored:
        return {}
    values = [score for _, score in scored]
    low, high = min(values), max(values)
    span = high - low
    return {chunk_id: (score - low) / span if span > 0 else 1.0 for chunk_id, score in scored}


def convex(
    dense: Scored, keyword: Scored, dense_weight: Callable[[int], float]
) -> list[tuple[int, float]]:
    """``w * dense + (1 - w) * keyword`` over normalised scores; ``w`` per chunk (its
    collection's weight). Equal fused scores are ordered by the mirrored combination
    ``w * keyword + (1 - w) * dense``: at ``w`` 0 or 1, what only the weighted-out side
    found comes in that side's order (not at random); at 0.5 it adds nothing, and the
    chunk id decides, so the order is deterministic."""
    # A side's last candidate scales to 0, yet it was found: FOUND lifts every candidate
    # just above a chunk the side did not return (too little to change any other order).
    d = {c: FOUND + (1.0 - FOUND) * v for c, v in min_max(dense).items()}
    k = {c: FOUND + (1.0 - FOUND) * v for c, v in min_max(keyword).items()}
    ranked = []
    for chunk_id in d.keys() | k.keys():
        w = dense_weight(chunk_id)
        on_dense, on_keyword = d.get(chunk_id, 0.0), k.get(chunk_id, 0.0)
        fused = w * on_dense + (1.0 - w) * on_keyword
        mirrored = w * on_keyword + (1.0 - w) * on_dense
        ranked.append((-fused, -mirrored, chunk_id))
    ranked.sort()
    return [(chunk_id, -negative) for negative, _, chunk_id in ranked]


@dataclass(frozen=True)
class Example:
    """One golden question with both sides' candidates for it."""

    dense: Scored
    keyword: Scored
    relevant: Mapping[str, int]  # expected document -> gain
    document_of: Mapping[int, str]  # chunk id -> document (as ``relevant`` names them)


def example_ndcg(example: Example, dense_weight: float, k: int = 10) -> float:
    fused = convex(example.dense, example.keyword, lambda _: dense_weight)
    ranked = documents_from_chunks(
        [example.document_of[c] for c, _ in fused if c in example.document_of]
    )
    return ndcg_at_k(ranked, example.relevant, k)


@dataclass
class Fit:
    dense_weight: float
    questions: int
    ndcg: dict[float, float] = field(default_factory=dict)  # mean nDCG@10 per weight

    @property
    def best(self) -> float:
        return self.ndcg[self.dense_weight]

    def report(self) -> dict[str, object]:
        return {
            "dense_weight": self.dense_weight,
            "questions": self.questions,
            "ndcg_at_10": {f"{w:.2f}": round(v, 4) for w, v in self.ndcg.items()},
        }


def fit_dense_weight(examples: Sequence[Example], default: float) -> Fit | None:
    """The grid weight with the best mean nDCG@10 (ties: the one nearest ``default``);
    None with fewer than ``MIN_GOLDEN_QUESTIONS`` examples."""
    if len(examples) < MIN_GOLDEN_QUESTIONS:
        return None
    ndcg = {w: statistics.fmean(example_ndcg(e, w) for e in examples) for w in GRID}
    best = max(GRID, key=lambda w: (round(ndcg[w], 9), -abs(w - default)))
    return Fit(dense_weight=best, questions=len(examples), ndcg=ndcg)
