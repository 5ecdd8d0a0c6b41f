"""Celery tasks of the knowledge app: thin, take ids, own the retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from knowledge.embeddings import EmbeddingError
from knowledge.ingestion.fetch import FetchError
from knowledge.ingestion.pipeline import (
    attempt_ended,
    companions_claim,
    companions_release,
    fail_exhausted,
    ingest,
    interrupted_by_time_limit,
    mark_failed,
    mark_timed_out,
    timed_out_message,
)
from knowledge.models import Document, DocumentStatus

TRANSIENT = (
    OperationalError,
    InterfaceError,
    EmbeddingError,
    FetchError,
    ConnectionError,
    TimeoutError,
)
MAX_RETRIES = 5


# ignore_result: the document row is the outcome, and nothing reads the task's result. A
# result kept would also make every enqueue subscribe to the result backend first, which,
# with the broker (the same Redis) down, held each upload request ~20 s before giving up.
@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES,
    ignore_result=True,
)  # fmt: skip
def document_ingest_task(self: Task, document_id: int) -> dict[str, Any]:
    """Parse, chunk, embed and swap in the newest version of a document (with up to
    ``KNOWLEDGE_INGEST_BATCH_DOCUMENTS - 1`` other small pending ones, in one embedding
    batch); idempotent.

    The soft time limit (``CELERY_TASK_SOFT_TIME_LIMIT``) ends the run with the document
    ``failed`` and the reason; a run killed at the hard limit is redelivered, and counted:
    after ``KNOWLEDGE_MAX_INGEST_ATTEMPTS`` such runs the document is failed, not run again.
    """
    # Other small pending documents go along in the same embedding batch (issue 12).
    companions = companions_claim(document_id)
    try:
        outcome = ingest([document_id, *companions], owned=companions)
    except Exception as error:
        for released in companions_release(companions):
            document_ingest_task.delay(released)  # their own tasks may have passed already
        if interrupted_by_time_limit(error):
            # The same work would hit the same limit again: no retry.
            mark_timed_out(document_id)
            return {"ready": [], "failed": {document_id: timed_out_message()}, "skipped": []}
        if not isinstance(error, TRANSIENT):
            raise
        attempt_ended(document_id)
        if self.request.retries >= MAX_RETRIES:
            version = Document.objects.filter(pk=document_id).values_list("version", flat=True)
            for number in version:
                mark_failed(
                    document_id,
                    number,
                    f"Processing failed after {MAX_RETRIES + 1} attempts ({error}). "
                    "Reprocess the document to try again.",
                )
            raise
        # Exponential backoff, capped: 2 s, 4 s, 8 s ... at most 5 minutes.
        raise self.retry(exc=error, countdown=min(2 ** (self.request.retries + 1), 300)) from error
    return {"ready": outcome.ready, "failed": outcome.failed, "skipped": outcome.skipped}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def document_requeue_stale_task(minutes: int = 15) -> int:
    """Queue again documents left pending or processing (a lost message, a killed worker);
    those whose runs died ``KNOWLEDGE_MAX_INGEST_ATTEMPTS`` times are marked failed instead.
    Returns how many were queued."""
    cutoff = timezone.now() - timedelta(minutes=minutes)
    stale = (
        Document.objects.filter(
            status__in=[DocumentStatus.PENDING, DocumentStatus.PROCESSING], updated_at__lt=cutoff
        )
        .filter(collection__evaluation_run="")  # an evaluation run ingests its own
        .only("pk", "version", "ingest_attempts")
    )
    queued = 0
    for document in stale:
        if not fail_exhausted(document):
            document_ingest_task.delay(document.pk)
            queued += 1
    return queued


@shared_task(acks_late=True, reject_on_worker_lost=True)
def documents_reindex_task() -> int:
    """Re-embed chunks made with another embedding model than the configured one."""
    from knowledge.selectors import documents_needing_reindex

    ids = list(documents_needing_reindex().values_list("pk", flat=True))
    if ids:
        ingest(ids, force=True)
    return len(ids)
