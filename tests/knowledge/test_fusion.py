"""Fusion of the search sides and the golden-question fit, by hand (knowledge.fusion)."""

from __future__ import annotations

import pytest

from knowledge import fusion


def test_min_max_scales_each_list_to_unit_range() -> None:
    assert fusion.min_max([(1, 0.8), (2, 0.6), (3, 0.4)]) == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0})
    assert fusion.min_max([(1, 7.0), (2, 7.0)]) == {1: 1.0, 2: 1.0}
    assert fusion.min_max([]) == {}


def test_convex_combines_normalised_scores_and_counts_a_missing_side_as_zero() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # normalised 1, 0.5, 0
    keyword = [(3, 12.0), (4, 6.0), (1, 2.0)]  # normalised 1, 0.4, 0
    fused = dict(fusion.convex(dense, keyword, lambda _: 0.5))
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.2})
    # Equal scores: the lower chunk id first, so the order is deterministic.
    assert [c for c, _ in fusion.convex(dense, keyword, lambda _: 0.5)] == [1, 3, 2, 4]
    # The weight moves it all the way to one side (that side's order, the other's after).
    assert [c for c, _ in fusion.convex(dense, keyword, lambda _: 1.0)][:3] == [1, 2, 3]
    assert [c for c, _ in fusion.convex(dense, keyword, lambda _: 0.0)][:3] == [3, 4, 1]
    # One weight per chunk (per collection in chunk_search).
    per_chunk = dict(fusion.convex(dense, keyword, lambda c: 1.0 if c == 2 else 0.0))
    assert per_chunk[2] == pytest.approx(0.5) and per_chunk[4] == pytest.approx(0.4)


def test_rrf_by_hand() -> None:
    fused = dict(fusion.rrf([[(1, 0.9), (2, 0.8)], [(2, 5.0), (3, 1.0)]], k=60))
    assert fused == pytest.approx({1: 1 / 61, 2: 1 / 62 + 1 / 61, 3: 1 / 62})


def _example(right_side: str, number: int) -> fusion.Example:
    """The relevant document is first on ``right_side`` and absent from the other."""
    good, bad = 200 + number, 100 + number  # a tie puts the wrong one (lower id) first
    right = [(good, 1.0), (bad, 0.5)]
    wrong = [(bad, 1.0), (300 + number, 0.5)]
    dense, keyword = {"dense": (right, wrong), "keyword": (wrong, right)}.get(
        right_side, (right, right)
    )
    return fusion.Example(
        dense=dense,
        keyword=keyword,
        relevant={f"d{good}": 1},
        document_of={good: f"d{good}", bad: f"d{bad}", 300 + number: f"d{300 + number}"},
    )


def test_fit_follows_the_side_that_finds_the_expected_documents() -> None:
    keyword_wins = [_example("keyword", n) for n in range(6)]
    fit = fusion.fit_dense_weight(keyword_wins, default=0.5)
    assert fit is not None and fit.questions == 6
    assert fit.dense_weight < 0.5 and fit.best == pytest.approx(1.0)
    assert fit.ndcg[1.0] < 1.0  # dense alone ranks the expected document second
    dense_wins = [_example("dense", n) for n in range(6)]
    fit = fusion.fit_dense_weight(dense_wins, default=0.5)
    assert fit is not None and fit.dense_weight > 0.5 and fit.best == pytest.approx(1.0)
    # Every weight as good: the default stands (ties go to the weight nearest it).
    both_right = [_example("both", n) for n in range(6)]
    fit = fusion.fit_dense_weight(both_right, default=0.3)
    assert fit is not None and fit.dense_weight == 0.3
    report = fit.report()
    assert report["questions"] == 6 and set(report["ndcg_at_10"]) == {
        f"{w:.2f}" for w in fusion.GRID
    }


def test_too_few_golden_questions_fit_nothing() -> None:
    examples = [_example("dense", n) for n in range(fusion.MIN_GOLDEN_QUESTIONS - 1)]
    assert fusion.fit_dense_weight(examples, default=0.5) is None


def test_at_the_ends_of_the_grid_the_weighted_out_side_still_orders_what_it_alone_found() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    keyword = [(5, 9.0), (4, 3.0)]  # 4 is keyword's last candidate: it scales to 0
    # Keyword alone: its own order, its last candidate before what only dense found, and
    # those in dense order (not by chunk id).
    assert [c for c, _ in fusion.convex(dense, keyword, lambda _: 0.0)] == [5, 4, 1, 2, 3]
    assert [c for c, _ in fusion.convex(dense, keyword, lambda _: 1.0)] == [1, 2, 3, 5, 4]
