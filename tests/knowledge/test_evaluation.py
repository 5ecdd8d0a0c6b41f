"""BEIR loading and the metrics, against hand-computed values; the command end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

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
    modes = [line.rsplit("mode=", 1)[1].split()[0] for line in lines[-4:]]
    assert modes == ["dense", "keyword", "hybrid-rrf", "hybrid"]
    assert lines[-1].startswith("nDCG@10=") and "recall@10=" in lines[-1]
    assert lines[-1].endswith("mode=hybrid (dense weight 0.50)")


@pytest.mark.django_db
def test_the_evaluation_collection_is_its_runs_alone_and_kept_only_on_demand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_user: Any, regions: dict[str, Any]
) -> None:
    from django.contrib.auth import get_user_model

    from knowledge.permissions import collections_visible_to
    from portal.models import Region
    from portal.permissions import Role

    folder = _toy_beir(tmp_path)
    call_command("evaluate_retrieval", str(folder), "--mode", "keyword", "--keep")
    kept = Collection.objects.get(slug__startswith="eval-")
    assert kept.evaluation_run == "kept"
    # Nobody else reads its abstracts: not compliance, not an admin, not another agent.
    for user in (
        make_user("ev_compliance", Role.COMPLIANCE),
        make_user("ev_admin", Role.ADMIN),
        make_user("ev_agent", Role.AGENT, regions=[regions["north"]]),
    ):
        assert not collections_visible_to(user).filter(pk=kept.pk).exists()
    assert not get_user_model().objects.filter(username__startswith="eval-").exists()
    # Reused by a later run (its own user, in the kept collection's region), then dropped.
    call_command("evaluate_retrieval", str(folder), "--mode", "keyword", "--reuse", kept.slug)
    assert capsys.readouterr().out.strip().splitlines()[-2].startswith("nDCG@10=1.0000")
    # A real collection cannot be "reused" (and so marked an evaluation's).
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="kept by an evaluation"):
        call_command("evaluate_retrieval", str(folder), "--reuse", "products-fees")
    assert Region.objects.filter(code__startswith="eval-").count() == 1  # the kept one's


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["interrupt", "sigterm"])
def test_an_interrupted_run_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import os
    import signal

    from django.contrib.auth import get_user_model

    from knowledge.management.commands import evaluate_retrieval
    from portal.models import Region

    def interrupted(*args: Any, **kwargs: Any) -> str:
        assert Collection.objects.filter(slug__startswith="eval-").exists()  # loaded
        if how == "sigterm":  # a time limit or a kill: a real signal to this process
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setattr(evaluate_retrieval.Command, "_score", interrupted)
    expected = SystemExit if how == "sigterm" else KeyboardInterrupt
    with pytest.raises(expected):
        call_command("evaluate_retrieval", str(_toy_beir(tmp_path)), "--mode", "keyword")
    assert not Collection.objects.filter(slug__startswith="eval-").exists()
    assert not get_user_model().objects.filter(username__startswith="eval-").exists()
    assert not Region.objects.filter(code__startswith="eval-").exists()
    assert signal.getsignal(signal.SIGTERM) is not evaluate_retrieval._terminated


@pytest.mark.django_db
def test_leftovers_of_killed_runs_are_deleted_and_never_swept_to_the_workers(
    tmp_path: Path,
) -> None:
    import os
    import socket
    import subprocess
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from knowledge.models import Document
    from knowledge.services import collection_create, document_create, evaluation_leftovers_delete
    from knowledge.tasks import document_requeue_stale_task

    host = socket.gethostname()
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid

    def run(slug: str, owner: str) -> Collection:
        collection = collection_create(
            actor=None, slug=slug, name=slug, read_roles=["agent"], evaluation_run=owner
        )
        document_create(
            actor=None,
            collection=collection,
            title="abstract",
            file=ContentFile(b"an abstract", name="a.txt"),
            enqueue=False,
        )
        return collection

    killed = run("eval-killed", f"{host}:{dead_pid}")
    running = run("eval-running", f"{host}:{os.getpid()}")
    elsewhere_old = run("eval-elsewhere", "other-host:123")
    Collection.objects.filter(pk=elsewhere_old.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    kept = run("eval-kept", "kept")
    Document.objects.update(updated_at=timezone.now() - timedelta(hours=2))
    assert document_requeue_stale_task() == 0  # evaluation documents are the run's to ingest
    assert sorted(evaluation_leftovers_delete(host=host)) == ["eval-elsewhere", "eval-killed"]
    assert set(Collection.objects.values_list("slug", flat=True)) >= {
        running.slug,
        kept.slug,
    }
    assert not Collection.objects.filter(pk=killed.pk).exists()
