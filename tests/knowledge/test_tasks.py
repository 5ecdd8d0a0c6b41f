"""Ingestion through a real Celery worker and the real broker."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from knowledge import tasks
from knowledge.demo import seed_collections
from knowledge.models import Document, DocumentStatus
from knowledge.services import document_create
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
