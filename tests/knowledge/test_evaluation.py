"""BEIR loading and the metrics, against hand-computed values; the command end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from django.core.management import call_command

from knowledge.evaluation import documents_from_chunks, load_beir, ndcg_at_k, recall_at_k
from knowledge.models import Collection


def test_ndcg_by_hand() -> None:
    relevant = {"a": 1, "b": 1}
    # Hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3).
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "x", "b"], relevant, 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], relevant, 10) == 0.0
    # Graded relevance uses linear gains: [2 at rank 2] over ideal [2 at rank 1].
    assert ndcg_at_k(["x", "g"], {"g": 2}, 10) == pytest.approx((2 / math.log2(3)) / 2)
    # Only the first k count.
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0


def test_recall_by_hand() -> None:
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 1}, 10) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], {"z": 0}, 10) == 0.0


def test_documents_from_chunks_keeps_best_position() -> None:
    assert documents_from_chunks(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def _toy_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [
        ("d1", "Aspirin", "Daily low-dose aspirin lowers the risk of a first heart attack."),
        ("d2", "Vitamin D", "Vitamin D supplements do not prevent fractures in healthy adults."),
        ("d3", "Coffee", "Moderate coffee drinking is associated with lower mortality."),
        ("d4", "Exercise", "Aerobic exercise enlarges the hippocampus and improves memory."),
    ]
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, title, text in docs:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = [
        ("q1", "aspirin and heart attack risk"),
        ("q2", "vitamin D and fractures"),
        ("q3", "exercise improves memory"),
        ("q9", "a query without judgements"),
    ]
    with (folder / "queries.jsonl").open("w") as handle:
        for query_id, text in queries:
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td4\t1\n"
    )
    return folder


def test_load_beir(tmp_path: Path) -> None:
    data = load_beir(_toy_beir(tmp_path))
    assert len(data.corpus) == 4 and data.corpus[0].title == "Aspirin"
    assert set(data.queries) == {"q1", "q2", "q3"}  # q9 has no judgements
    assert data.qrels["q3"] == {"d4": 1}
    with pytest.raises(FileNotFoundError, match="not a BEIR-layout folder"):
        load_beir(tmp_path / "qrels")


@pytest.mark.django_db
def test_evaluate_retrieval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _toy_beir(tmp_path)
    call_command("evaluate_retrieval", str(folder), "--mode", "keyword")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "nDCG@10=1.0000 recall@10=1.0000 mode=keyword"
    assert not Collection.objects.filter(slug__startswith="eval-").exists()  # thrown away
    call_command("evaluate_retrieval", str(folder))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit("mode=", 1)[1] for line in lines[-3:]] == ["dense", "keyword", "hybrid"]
    assert lines[-1].startswith("nDCG@10=") and "recall@10=" in lines[-1]
