"""Golden questions: saved and imported through the services, the fitted hybrid weight used
by every search, the commands and the admin."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from knowledge import fusion
from knowledge.models import Collection, Document, GoldenQuestion
from knowledge.selectors import SearchMode, chunk_search, dense_weights
from knowledge.services import (
    collection_fusion_fit,
    collection_fusion_reset,
    golden_question_save,
    golden_questions_import,
)
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

TOPICS = [
    ("Card replacement", "A replacement debit card costs five euros and arrives in a week."),
    ("Overdraft", "Arranged overdraft interest is 19.9 percent a year, charged monthly."),
    ("Foreign fees", "Card payments abroad carry a 2.75 percent foreign transaction fee."),
    ("Mortgage", "Overpaying a fixed-rate mortgage by more than 10 percent costs a fee."),
    ("Savings", "The instant-access savings account pays 3.1 percent gross interest."),
    ("Chargeback", "Disputed card payments must be reported within 120 days of the charge."),
]
QUESTIONS = [
    "How much is a new debit card?",
    "What does an arranged overdraft cost?",
    "Fee for paying by card in another country",
    "Can I pay off my mortgage early?",
    "What interest does instant savings pay?",
    "How long do I have to dispute a card payment?",
]


@pytest.fixture
def fees(collections: dict[str, Collection], add_document: Callable[..., Document]) -> Any:
    collection = collections["products-fees"]
    documents = [add_document(collection, title, text) for title, text in TOPICS]
    return collection, documents


def test_save_checks_the_question_its_documents_and_who_asks(
    fees: Any, collections: dict[str, Collection], add_document: Any, role_users: dict[str, Any]
) -> None:
    collection, documents = fees
    manager = role_users["content_manager"]
    golden = golden_question_save(
        actor=manager,
        collection=collection,
        question="  new   card price? ",
        documents=[documents[0].pk],
    )
    assert golden.question == "new card price?"
    assert list(golden.expected_documents.all()) == [documents[0]]
    assert AuditEvent.objects.filter(
        action="golden_question.saved", target_id=str(golden.pk)
    ).exists()
    # By source URL too; a document of another collection is refused like a missing one.
    other = add_document(collections["compliance-aml"], "AML", "Cash deposits above limits.")
    for refs, field in (
        ([other.pk], "documents"),
        ([999999], "documents"),
        ([], "documents"),
    ):
        with pytest.raises(ValidationError) as refused:
            golden_question_save(actor=manager, collection=collection, question="q", documents=refs)
        assert field in refused.value.message_dict
    assert "another" not in str(refused.value)
    with pytest.raises(ValidationError, match="Enter the question"):
        golden_question_save(
            actor=manager, collection=collection, question=" ", documents=[documents[0]]
        )
    with pytest.raises(ValidationError, match="already has this question"):
        golden_question_save(
            actor=manager,
            collection=collection,
            question="new card price?",
            documents=[documents[1]],
        )
    # Only who manages the collection.
    with pytest.raises(PermissionDenied):
        golden_question_save(
            actor=role_users["agent"], collection=collection, question="x", documents=[documents[0]]
        )


def test_import_is_all_or_nothing_and_names_the_bad_rows(fees: Any) -> None:
    collection, documents = fees
    rows: list[dict[str, Any]] = [
        {"question": QUESTIONS[0], "documents": [documents[0].pk]},
        {"question": QUESTIONS[1], "documents": ["https://nowhere.invalid/x"]},
        {"question": "", "documents": [documents[2].pk]},
    ]
    with pytest.raises(ValidationError) as refused:
        golden_questions_import(actor=None, collection=collection, rows=rows)
    messages = refused.value.messages
    assert [m.split(":")[0] for m in messages] == ["row 2", "row 3"]
    assert not GoldenQuestion.objects.exists()
    rows[1]["documents"] = [str(documents[1].pk)]
    rows[2]["question"] = QUESTIONS[2]
    assert golden_questions_import(actor=None, collection=collection, rows=rows) == (3, 0)
    rows[0]["documents"] = [documents[0].pk, documents[5].pk]
    assert golden_questions_import(actor=None, collection=collection, rows=rows[:1]) == (0, 1)
    golden = GoldenQuestion.objects.get(question=QUESTIONS[0])
    assert set(golden.expected_documents.all()) == {documents[0], documents[5]}


def test_fit_stores_a_weight_not_worse_than_either_side_and_search_uses_it(
    fees: Any, role_users: dict[str, Any]
) -> None:
    collection, documents = fees
    for question, document in zip(QUESTIONS[:4], documents, strict=False):
        golden_question_save(
            actor=None, collection=collection, question=question, documents=[document]
        )
    with pytest.raises(ValidationError, match="at least 5 golden questions"):
        collection_fusion_fit(actor=None, collection=collection)
    for question, document in zip(QUESTIONS[4:], documents[4:], strict=True):
        golden_question_save(
            actor=None, collection=collection, question=question, documents=[document]
        )
    with pytest.raises(PermissionDenied):
        collection_fusion_fit(actor=role_users["agent"], collection=collection)
    fit = collection_fusion_fit(actor=role_users["content_manager"], collection=collection)
    collection.refresh_from_db()
    assert collection.fusion_weight == fit.dense_weight and collection.fusion_fitted_at
    figures = collection.fusion_fit
    assert figures["questions"] == 6 and fit.dense_weight in fusion.GRID
    # On the questions it was fitted on, hybrid is at least as good as the better side.
    assert fit.best >= max(figures["dense"], figures["keyword"], figures["hybrid_default"])
    assert AuditEvent.objects.filter(action="collection.fusion_fitted").exists()
    assert dense_weights([collection.pk]) == {collection.pk: fit.dense_weight}

    # Every search of the collection uses its weight: all the way to one side or the other.
    agent = role_users["agent"]
    for weight, side in ((1.0, SearchMode.DENSE), (0.0, SearchMode.KEYWORD)):
        Collection.objects.filter(pk=collection.pk).update(fusion_weight=weight)
        for question in QUESTIONS:
            hybrid = chunk_search(agent, question, k=3, mode=SearchMode.HYBRID, audit=False)
            alone = chunk_search(agent, question, k=10, mode=side, audit=False)
            # The side's own results come first, in its order (equal scores in any order).
            score = {h.chunk_id: h.score for h in alone.hits}
            expected = [h.score for h in alone.hits][:3]
            got = [score.get(h.chunk_id) for h in hybrid.hits][: len(expected)]
            assert got == expected, (weight, question)
    collection_fusion_reset(actor=None, collection=collection)
    collection.refresh_from_db()
    assert collection.fusion_weight is None and collection.fusion_fit == {}
    assert dense_weights([collection.pk]) == {collection.pk: 0.5}


def test_hidden_collections_do_not_change_hybrid_scores(
    collections: dict[str, Collection], add_document: Any, role_users: dict[str, Any]
) -> None:
    agent = role_users["agent"]
    add_document(collections["products-fees"], "Fees", "Foreign transaction fee is 2.75 percent.")
    add_document(collections["products-fees"], "Cards", "Replacement cards cost five euros.")
    before = chunk_search(agent, "foreign transaction fee", audit=False).hits
    for i in range(3):
        add_document(collections["compliance-aml"], f"AML {i}", "Foreign transaction fee alert.")
    after = chunk_search(agent, "foreign transaction fee", audit=False).hits
    assert [(h.chunk_id, h.score) for h in after] == [(h.chunk_id, h.score) for h in before]


def test_commands_import_fit_and_evaluate(
    fees: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collection, documents = fees
    path = tmp_path / "golden.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"question": q, "documents": [d.pk]})
            for q, d in zip(QUESTIONS, documents, strict=True)
        )
    )
    call_command("import_golden_questions", collection.slug, str(path))
    assert "6 golden questions added, 0 updated" in capsys.readouterr().out
    csv_path = tmp_path / "golden.csv"
    csv_path.write_text(f"question,documents\n{QUESTIONS[0]},{documents[0].pk};{documents[1].pk}\n")
    call_command("import_golden_questions", collection.slug, str(csv_path))
    assert "0 golden questions added, 1 updated" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "documents": [1]}\nnot json\n')
    with pytest.raises(CommandError, match="line 2: not JSON"):
        call_command("import_golden_questions", collection.slug, str(bad))

    call_command("evaluate_retrieval", "--collection", collection.slug)
    out = capsys.readouterr().out
    assert "6 golden questions with expected documents" in out
    assert "mode=hybrid (dense weight 0.50)" in out and "fit_fusion" in out
    call_command("fit_fusion", collection.slug)
    out = capsys.readouterr().out
    assert out.startswith(f"{collection.slug}: dense weight ") and "from 6 golden questions" in out
    collection.refresh_from_db()
    call_command("evaluate_retrieval", "--collection", collection.slug)
    assert f"mode=hybrid (dense weight {collection.fusion_weight:.2f})" in capsys.readouterr().out
    call_command("fit_fusion", collection.slug, "--reset")
    collection.refresh_from_db()
    assert collection.fusion_weight is None
    with pytest.raises(CommandError, match="No collection"):
        call_command("fit_fusion", "no-such-collection")


def test_admin_golden_questions_and_the_fit_action(
    client: Client,
    fees: Any,
    collections: dict[str, Collection],
    add_document: Any,
    make_user: Any,
    role_users: dict[str, Any],
) -> None:
    from portal.permissions import Role

    collection, documents = fees
    other = add_document(collections["compliance-aml"], "AML", "Cash deposits above limits.")
    client.force_login(role_users["admin"])
    add_url = reverse("admin:knowledge_goldenquestion_add")
    assert client.get(add_url).status_code == 200
    refused = client.post(
        add_url,
        {"collection": collection.pk, "question": "q?", "expected_documents": [other.pk]},
    )
    # Not one of the documents the user manages, or not of the chosen collection: refused.
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    assert not GoldenQuestion.objects.exists()
    for question, document in zip(QUESTIONS, documents, strict=True):
        response = client.post(
            add_url,
            {
                "collection": collection.pk,
                "question": question,
                "expected_documents": [document.pk],
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    assert GoldenQuestion.objects.filter(collection=collection).count() == 6
    assert AuditEvent.objects.filter(action="golden_question.saved").count() == 6
    changelist = reverse("admin:knowledge_collection_changelist")
    response = client.post(
        changelist, {"action": "fit_fusion", "_selected_action": [collection.pk]}, follow=True
    )
    assert "from 6 golden questions" in response.content.decode()
    collection.refresh_from_db()
    assert collection.fusion_weight is not None
    page = client.get(reverse("admin:knowledge_collection_change", args=[collection.pk]))
    assert "6 questions: dense" in page.content.decode()
    client.post(changelist, {"action": "reset_fusion", "_selected_action": [collection.pk]})
    collection.refresh_from_db()
    assert collection.fusion_weight is None
    assert AuditEvent.objects.filter(action="collection.fusion_reset").exists()

    # A content manager sees the golden questions of collections they manage only.
    manager = make_user("cm_staff", Role.CONTENT_MANAGER, is_staff=True)
    hidden = GoldenQuestion.objects.create(
        collection=collections["compliance-aml"], question="secret?"
    )
    client.force_login(manager)
    managed = set(Collection.objects.filter(manage_roles__contains=[Role.CONTENT_MANAGER.value]))
    listing = client.get(reverse("admin:knowledge_goldenquestion_changelist")).content.decode()
    assert ("secret?" in listing) == (collections["compliance-aml"] in managed)
    if collections["compliance-aml"] not in managed:
        url = reverse("admin:knowledge_goldenquestion_change", args=[hidden.pk])
        assert client.get(url).status_code == 302  # "does not exist" back to the admin


def test_a_fit_needs_one_embedding_model_and_lapses_with_a_new_one(
    fees: Any, role_users: dict[str, Any]
) -> None:
    from knowledge.models import Chunk

    collection, documents = fees
    for question, document in zip(QUESTIONS, documents, strict=True):
        golden_question_save(
            actor=None, collection=collection, question=question, documents=[document]
        )
    fit = collection_fusion_fit(actor=None, collection=collection)
    hits = chunk_search(role_users["agent"], QUESTIONS[0], audit=False).hits
    assert {h.dense_weight for h in hits} == {fit.dense_weight}  # recorded in answers' lineage
    assert {
        h.dense_weight
        for h in chunk_search(role_users["agent"], QUESTIONS[0], mode="dense", audit=False).hits
    } == {None}
    # Fitted on another model's vectors: the default applies until it is fitted again.
    Collection.objects.filter(pk=collection.pk).update(
        fusion_weight=0.0, fusion_fit={**collection.fusion_fit, "embedding_model": "old-model"}
    )
    assert dense_weights([collection.pk]) == {collection.pk: 0.5}
    # Chunks of two models (a re-index under way): nothing to fit on.
    Chunk.objects.filter(document=documents[0]).update(embedding_model="old-model")
    with pytest.raises(ValidationError, match="re-index them first"):
        collection_fusion_fit(actor=None, collection=collection)


def test_admin_change_keeps_the_collection_and_bad_questions_are_form_errors(
    client: Client, fees: Any, collections: dict[str, Collection], role_users: dict[str, Any]
) -> None:
    collection, documents = fees
    first = golden_question_save(
        actor=None, collection=collection, question=QUESTIONS[0], documents=[documents[0]]
    )
    second = golden_question_save(
        actor=None, collection=collection, question=QUESTIONS[1], documents=[documents[1]]
    )
    client.force_login(role_users["admin"])
    url = reverse("admin:knowledge_goldenquestion_change", args=[second.pk])
    for question, message in (
        (f"  {QUESTIONS[0].replace(' ', '   ')} ", "already has this question"),
        ("x" * 1001, "longer than 1000 characters"),
    ):
        response = client.post(url, {"question": question, "expected_documents": [documents[1].pk]})
        assert response.status_code == 200 and message in response.content.decode()
    other = collections["internal-hr"]
    response = client.post(
        url,
        {"collection": other.pk, "question": "Renamed?", "expected_documents": [documents[2].pk]},
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.collection == collection and second.question == "Renamed?"
    assert list(second.expected_documents.all()) == [documents[2]]
    events = AuditEvent.objects.filter(action="golden_question.saved", target_id=str(second.pk))
    event = events.order_by("pk").last()
    assert event is not None and event.details["documents_before"] == [documents[1].pk]
    assert event.details["question_changed"] is True
    # The service refuses a move, whoever calls it.
    with pytest.raises(ValidationError, match="stays in its collection"):
        golden_question_save(
            actor=None, collection=other, question="q", documents=[documents[0]], golden=first
        )


def test_csv_import_reads_quoted_lines_and_names_file_lines(fees: Any, tmp_path: Path) -> None:
    collection, documents = fees
    path = tmp_path / "golden.csv"
    path.write_text(
        "question,documents\n"
        f'"How much is\na new card?",{documents[0].pk}\n'
        f"What about overdrafts?,²\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as refused:
        call_command("import_golden_questions", collection.slug, str(path))
    assert "line 4: Not a document of this collection: ²." in str(refused.value)
    path.write_text(f'question,documents\n"How much is\na new card?",{documents[0].pk}\n')
    call_command("import_golden_questions", collection.slug, str(path))
    assert GoldenQuestion.objects.get().question == "How much is a new card?"


def test_hostile_rows_are_refused_by_line_not_with_a_500(fees: Any) -> None:
    collection, documents = fees
    rows: list[dict[str, Any]] = [
        {"question": "nul \x00 inside", "documents": [documents[0].pk]},
        {"question": "q1", "documents": ["\x00"]},
        {"question": "q2", "documents": ["9" * 40]},
        {"question": "q3", "documents": ["https://x.invalid/" + "a" * 5000]},
        {"question": "q4", "documents": "not a list"},
        {"question": "x" * 5000, "documents": [documents[0].pk]},
    ]
    with pytest.raises(ValidationError) as refused:
        golden_questions_import(actor=None, collection=collection, rows=rows)
    assert [m.split(":")[0] for m in refused.value.messages] == [f"row {n}" for n in range(1, 7)]
    assert not GoldenQuestion.objects.exists()


def test_the_evaluation_report_scores_every_fusion_on_the_same_candidates() -> None:
    from knowledge.management.commands.evaluate_retrieval import report

    def example(number: int, right: str) -> fusion.Example:
        good, bad = 1000 + number, number
        found, missed = [(good, 1.0), (bad, 0.5)], [(bad, 1.0), (2000 + number, 0.5)]
        dense, keyword = (found, missed) if right == "dense" else (missed, found)
        ids = {good: "good", bad: f"bad{number}", 2000 + number: f"other{number}"}
        return fusion.Example(dense=dense, keyword=keyword, relevant={"good": 1}, document_of=ids)

    # Keyword finds the document on 20 questions of 24, dense on 4.
    examples = [example(n, "keyword" if n % 6 else "dense") for n in range(24)]
    lines = report(examples, golden=6, draws=3)
    modes = [line.split("mode=")[1].split()[0] for line in lines]
    assert modes == ["dense", "keyword", "hybrid-rrf", "hybrid", "hybrid-fitted", "hybrid-golden-6"]
    ndcg = {
        mode: float(line.split()[0].split("=")[1]) for mode, line in zip(modes, lines, strict=True)
    }
    assert ndcg["keyword"] > ndcg["dense"]
    # A fitted weight follows keyword: never below it, on questions it was not fitted on.
    assert ndcg["hybrid-fitted"] >= ndcg["keyword"]
    assert ndcg["hybrid-golden-6"] >= ndcg["keyword"]
    assert "median of 3 draws of 6 golden questions" in lines[-1]
