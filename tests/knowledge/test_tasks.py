"""Ingestion through a real Celery worker and the real broker; retries, time limits and runs
that never end."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from knowledge import tasks
from knowledge.demo import seed_collections
from knowledge.ingestion import pipeline
from knowledge.ingestion.parsers import ParseError
from knowledge.models import Document, DocumentStatus
from knowledge.services import document_create, document_replace_file, document_reprocess
from knowledge.tasks import document_ingest_task, document_requeue_stale_task


def _wait_for(document_id: int, status: str, timeout: float = 90) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.status == status:
            return document
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} is {document.status}, not {status}")


@pytest.mark.django_db(transaction=True)
def test_upload_is_ingested_by_the_worker_after_commit(celery_worker_thread: Any) -> None:
    collection = seed_collections()["products-fees"]
    document = document_create(
        actor=None,
        collection=collection,
        title="Fees",
        file=ContentFile(b"# Fees\n\nWire transfers cost 15.", name="fees.md"),
    )
    ready = _wait_for(document.pk, DocumentStatus.READY)
    assert ready.chunk_count == 1 and ready.live_version == 1


@pytest.mark.django_db(transaction=True)
def test_transient_error_is_retried(
    celery_worker_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_ingest = tasks.ingest

    def flaky(ids: list[int], **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("connection lost")
        return real_ingest(ids, **kwargs)

    monkeypatch.setattr(tasks, "ingest", flaky)
    collection = seed_collections()["products-fees"]
    document = document_create(
        actor=None, collection=collection, title="Fees",
        file=ContentFile(b"Overdraft interest is 19.9%.", name="f.txt"),
    )  # fmt: skip
    _wait_for(document.pk, DocumentStatus.READY)
    assert len(calls) == 2


@pytest.mark.django_db
def test_retries_are_capped_and_end_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ids: list[int], **kwargs: Any) -> Any:
        raise OperationalError("database unreachable")

    monkeypatch.setattr(tasks, "ingest", broken)
    collection = seed_collections()["products-fees"]
    document = document_create(
        actor=None, collection=collection, title="Fees",
        file=ContentFile(b"Overdraft interest is 19.9%.", name="f.txt"), enqueue=False,
    )  # fmt: skip
    result = document_ingest_task.apply(args=(document.pk,), retries=tasks.MAX_RETRIES)
    assert result.failed()
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert "failed after 6 attempts" in document.error and "Reprocess" in document.error


@pytest.mark.django_db(transaction=True)
def test_stale_documents_are_requeued(celery_worker_thread: Any) -> None:
    collection = seed_collections()["products-fees"]
    document = document_create(
        actor=None, collection=collection, title="Fees",
        file=ContentFile(b"Card replacement is free.", name="f.txt"), enqueue=False,
    )  # fmt: skip
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, updated_at=timezone.now() - timedelta(hours=1)
    )
    assert document_requeue_stale_task.delay().get(timeout=30) == 1
    _wait_for(document.pk, DocumentStatus.READY)


# --------------------------------------------------------------------------- time limits


@contextmanager
def soft_time_limit(seconds: float) -> Iterator[None]:
    """Celery's soft time limit as the prefork pool delivers it: a signal whose handler
    raises SoftTimeLimitExceeded in whatever code the task is running."""

    def expire(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _stored(name: str, data: bytes) -> Document:
    return document_create(
        actor=None,
        collection=seed_collections()["products-fees"],
        title=name,
        file=ContentFile(data, name=name),
        enqueue=False,
    )


@pytest.mark.django_db
def test_soft_time_limit_ends_the_document_failed_with_the_reason(settings: Any) -> None:
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 540
    # About 20 s of parsing (hostile Markdown, within the size limit): the limit strikes first.
    document = _stored("brackets.md", b"[" * 1_000_000)
    started = time.monotonic()
    with soft_time_limit(0.5):
        result = document_ingest_task.apply(args=(document.pk,))
    assert time.monotonic() - started < 5
    assert result.successful()  # ended cleanly: not retried, not redelivered
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.error == (
        "Processing did not finish within the time limit (540 s). The document may be too "
        "large or complex: split it, or reprocess to try again."
    )
    assert result.result == {"ready": [], "failed": {document.pk: document.error}, "skipped": []}
    assert document.versions.get(number=1).status == DocumentStatus.FAILED


def test_a_time_limit_re_raised_as_damage_is_still_a_time_limit() -> None:
    def parser() -> None:
        try:
            raise SoftTimeLimitExceeded()
        except Exception as exc:  # a parser's "anything else means a damaged file"
            raise ParseError("corrupt", "The file is damaged.") from exc

    with pytest.raises(ParseError) as excinfo:
        parser()
    assert pipeline.interrupted_by_time_limit(excinfo.value)
    assert not pipeline.interrupted_by_time_limit(ParseError("corrupt", "The file is damaged."))


@pytest.mark.django_db
def test_runs_that_never_end_are_counted_then_the_document_fails(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.KNOWLEDGE_MAX_INGEST_ATTEMPTS = 3
    settings.CELERY_TASK_TIME_LIMIT = 600
    document = _stored("fees.txt", b"Card replacement is free.")

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("killed at the hard time limit")  # nothing of the task runs after

    monkeypatch.setattr(pipeline, "embed", killed)
    for attempt in (1, 2, 3):
        with pytest.raises(SystemExit):
            pipeline.ingest([document.pk])
        document.refresh_from_db()
        assert (document.status, document.ingest_attempts) == (DocumentStatus.PROCESSING, attempt)
    monkeypatch.undo()
    # The broker redelivers the message (acks_late): the run refuses to go again.
    result = document_ingest_task.apply(args=(document.pk,))
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.error == (
        "Processing did not finish after 3 attempts (each was stopped at the time limit of "
        "600 s, or its worker was lost). The document may be too large or complex: split it, "
        "or reprocess to try again."
    )
    assert result.result["failed"] == {document.pk: document.error}
    assert document.chunks.count() == 0
    # Reprocessing starts a clean count, and a run that ends resets it.
    document_reprocess(actor=None, document=document)
    document.refresh_from_db()
    assert (document.status, document.ingest_attempts) == (DocumentStatus.PENDING, 0)
    document_ingest_task.apply(args=(document.pk,))
    document.refresh_from_db()
    assert (document.status, document.ingest_attempts) == (DocumentStatus.READY, 0)


@pytest.mark.django_db
def test_a_new_version_starts_a_clean_count() -> None:
    document = _stored("fees.txt", b"Card replacement is free.")
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, ingest_attempts=2
    )
    document = document_replace_file(
        actor=None, document=document, file=ContentFile(b"Now 5 euros.", name="fees.txt")
    )
    assert document.ingest_attempts == 0
    assert Document.objects.get(pk=document.pk).ingest_attempts == 0


@pytest.mark.django_db
def test_transient_errors_do_not_count_as_runs_that_never_ended(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.KNOWLEDGE_MAX_INGEST_ATTEMPTS = 1
    calls: list[int] = []
    real_embed = pipeline.embed

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("connection lost")
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(pipeline, "embed", flaky)
    document = _stored("fees.txt", b"Card replacement is free.")
    # Eagerly, the retries run at once, one after another: three runs in all.
    assert document_ingest_task.apply(args=(document.pk,)).successful()
    assert len(calls) == 3
    document.refresh_from_db()
    assert (document.status, document.ingest_attempts) == (DocumentStatus.READY, 0)


@pytest.mark.django_db(transaction=True)
def test_stale_sweep_fails_documents_whose_runs_keep_dying(
    celery_worker_thread: Any, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_INGEST_ATTEMPTS = 3
    dying = _stored("dying.txt", b"Killed every time.")
    lost = _stored("lost.txt", b"Card replacement is free.")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Document.objects.filter(pk=dying.pk).update(
        status=DocumentStatus.PROCESSING, ingest_attempts=3, updated_at=an_hour_ago
    )
    Document.objects.filter(pk=lost.pk).update(
        status=DocumentStatus.PROCESSING, ingest_attempts=1, updated_at=an_hour_ago
    )
    assert document_requeue_stale_task.delay().get(timeout=30) == 1  # only the lost one
    dying.refresh_from_db()
    assert dying.status == DocumentStatus.FAILED
    assert dying.error.startswith("Processing did not finish after 3 attempts")
    assert _wait_for(lost.pk, DocumentStatus.READY).ingest_attempts == 0
    # Nothing is queued again on the next sweeps.
    assert document_requeue_stale_task.delay().get(timeout=30) == 0


@pytest.mark.django_db
def test_ingest_task_of_a_deleted_document_ends_quietly() -> None:
    from knowledge.services import document_delete

    document = _stored("gone.md", b"# Gone\n\nDeleted before its turn.")
    document_delete(actor=None, document=document)
    result = document_ingest_task.apply(args=(document.pk,))
    assert result.successful()
    assert result.result == {"ready": [], "failed": {}, "skipped": [document.pk]}


# --- cross-document batching (off by default: the tests below turn it on) ------------------


@pytest.fixture
def batching(settings: Any) -> Any:
    settings.KNOWLEDGE_INGEST_BATCH_DOCUMENTS = 16
    return settings


def _pending(count: int, size: int = 0) -> list[Document]:
    collection = seed_collections()["products-fees"]
    return [
        document_create(
            actor=None,
            collection=collection,
            title=f"Fee note {i}",
            file=ContentFile(
                (f"Fee note {i}: the card fee is {i} dollars. " + "x" * size).encode(),
                name=f"n{i}.txt",
            ),
            enqueue=False,
        )
        for i in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_one_run_takes_small_pending_documents_along(batching: Any) -> None:
    first, *others = _pending(4)
    result = document_ingest_task.apply(args=(first.pk,))
    assert sorted(result.result["ready"]) == sorted([first.pk, *(d.pk for d in others)])
    for document in Document.objects.filter(pk__in=[first.pk, *(d.pk for d in others)]):
        assert document.status == DocumentStatus.READY and document.claimed_until is None
        assert document.chunk_count == 1
    # Their own tasks, delivered later, find them done.
    again = document_ingest_task.apply(args=(others[0].pk,))
    assert again.result["skipped"] == [others[0].pk]


@pytest.mark.django_db(transaction=True)
def test_a_document_taken_along_is_skipped_by_its_own_task(batching: Any) -> None:
    first, second = _pending(2)
    assert pipeline.companions_claim(first.pk) == [second.pk]
    assert pipeline.companions_claim(first.pk) == []  # never taken twice
    own = document_ingest_task.apply(args=(second.pk,))
    assert second.pk in own.result["skipped"]
    second.refresh_from_db()
    assert second.status == DocumentStatus.PENDING and second.claimed_until is not None
    outcome = pipeline.ingest([second.pk], owned=[second.pk])  # the run that holds it
    assert outcome.ready == [second.pk]


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_gives_back_what_it_took_along(
    batching: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = _pending(3)

    def broken(ids: list[int], **kwargs: Any) -> Any:
        raise OperationalError("database unreachable")

    monkeypatch.setattr(tasks, "ingest", broken)
    queued: list[int] = []
    monkeypatch.setattr(tasks.document_ingest_task, "delay", lambda pk: queued.append(pk))
    document_ingest_task.apply(args=(first.pk,), retries=tasks.MAX_RETRIES)
    assert sorted(queued) == sorted([second.pk, third.pk])
    for document in Document.objects.filter(pk__in=queued):
        assert document.status == DocumentStatus.PENDING and document.claimed_until is None


@pytest.mark.django_db(transaction=True)
def test_large_files_and_a_batch_of_one_go_alone(batching: Any) -> None:
    batching.KNOWLEDGE_INGEST_BATCH_FILE_BYTES = 1000
    first, small = _pending(2)
    (large,) = _pending(1, size=5000)
    assert pipeline.companions_claim(large.pk) == []  # a large file takes nothing along
    assert pipeline.companions_claim(first.pk) == [small.pk]
    batching.KNOWLEDGE_INGEST_BATCH_DOCUMENTS = 1
    Document.objects.filter(pk=small.pk).update(claimed_until=None)
    assert pipeline.companions_claim(first.pk) == []
    assert large.size_bytes > 1000


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_uploads_through_the_worker_is_ingested_once_each(
    batching: Any,
    celery_worker_thread: Any,
) -> None:
    from django.db import transaction

    from portal.models import AuditEvent

    with transaction.atomic():  # queued together at commit: the first run takes the others
        documents = [
            document_create(
                actor=None,
                collection=seed_collections()["products-fees"],
                title=f"Burst {i}",
                file=ContentFile(f"Burst note {i}: the fee is {i}.".encode(), name=f"b{i}.txt"),
            )
            for i in range(6)
        ]
    for document in documents:
        _wait_for(document.pk, DocumentStatus.READY)
    for document in documents:
        events = AuditEvent.objects.filter(action="document.ingested", target_id=str(document.pk))
        assert events.count() == 1, document.pk


@pytest.mark.django_db(transaction=True)
def test_a_new_version_of_a_document_taken_along_is_not_held_back(batching: Any) -> None:
    first, second = _pending(2)
    assert pipeline.companions_claim(first.pk) == [second.pk]
    document_replace_file(
        actor=None,
        document=Document.objects.get(pk=second.pk),
        file=ContentFile(b"Version two: the fee is 7 dollars.", name="v2.txt"),
    )
    second.refresh_from_db()
    assert second.version == 2 and second.claimed_until is None
    result = document_ingest_task.apply(args=(second.pk,))
    assert second.pk in result.result["ready"]


@pytest.mark.django_db(transaction=True)
def test_reprocessing_a_document_taken_along_runs_it(batching: Any) -> None:
    _first, second = _pending(2)
    pipeline.mark_failed(second.pk, 1, "damaged")
    Document.objects.filter(pk=second.pk).update(
        claimed_until=timezone.now() + timedelta(minutes=5)
    )
    document_reprocess(actor=None, document=Document.objects.get(pk=second.pk))
    second.refresh_from_db()
    assert second.status == DocumentStatus.PENDING and second.claimed_until is None
    assert second.pk in document_ingest_task.apply(args=(second.pk,)).result["ready"]
