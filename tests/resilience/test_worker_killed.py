"""A Celery worker killed with SIGKILL in the middle of an ingestion: the document ends
``ready`` exactly once, with exactly the chunks and postings of one clean run.

Real processes: ``celery -A portal worker`` (prefork, as in production) on a Valkey of the
test's own, the test database, and the fake OpenAI server as the embedding service. The
fake server holds the embedding request (its ``gate``), so the kill lands while the
document is ``processing``, after parsing and before the swap, every time.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from kombu import Connection

from knowledge.demo import seed_collections
from knowledge.ingestion.pipeline import prepare
from knowledge.models import Chunk, Document, DocumentStatus, Posting
from knowledge.services import document_create
from knowledge.tasks import document_requeue_stale_task
from portal.models import AuditEvent
from tests.resilience.support import Process, Valkey, Worker, wait_until
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = 45  # one chunk each: two embedding batches of 32


def _policy() -> bytes:
    parts = ["# Card handbook\n"]
    for n in range(SECTIONS):
        parts.append(
            f"\n## Rule {n}\n\nCards of series {n} are replaced within {n + 2} business days. "
            f"A replacement of series {n} costs {n + 5} euros and keeps the same number.\n"
        )
    return "".join(parts).encode()


def _upload(title: str) -> tuple[Document, int]:
    """A pending document, queued on commit; and the number of chunks one run makes."""
    document = document_create(
        actor=None,
        collection=seed_collections()["products-fees"],
        title=title,
        file=ContentFile(_policy(), name="handbook.md"),
    )
    expected = len(prepare(Document.objects.get(pk=document.pk)).drafts)
    assert expected >= SECTIONS  # more than one embedding batch
    return document, expected


def _embedding_requests(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r["path"].endswith("/embeddings"))


def _status(document: Document) -> str:
    return str(Document.objects.values_list("status", flat=True).get(pk=document.pk))


def _mid_ingest(document: Document, fake: FakeOpenAI, after: int = 0) -> None:
    """Wait until the run is inside the (held) embedding call."""
    wait_until(
        lambda: (
            _embedding_requests(fake) > after and _status(document) == DocumentStatus.PROCESSING
        ),
        30,
        "the worker to be mid-ingest",
    )


def _postings_expected(document: Document) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM knowledge_chunk c CROSS JOIN LATERAL unnest(c.search_vector) "
            "WHERE c.document_id = %s",
            [document.pk],
        )
        return int(cursor.fetchone()[0])


def _assert_ready_once(document: Document, expected_chunks: int) -> list[int]:
    """Ready, exactly one run's chunks (ordinals 0..n-1 once each) and postings, one
    ``document.ingested`` event; returns the chunk ids."""
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    assert (document.live_version, document.chunk_count, document.ingest_attempts) == (
        1,
        expected_chunks,
        0,
    )
    assert document.versions.get(number=1).status == DocumentStatus.READY
    chunks = Chunk.objects.filter(document=document).order_by("ordinal")
    assert list(chunks.values_list("ordinal", flat=True)) == list(range(expected_chunks))
    assert set(chunks.values_list("version", flat=True)) == {1}
    postings = Posting.objects.filter(chunk__document=document).count()
    assert postings == _postings_expected(document) > expected_chunks
    ingested = AuditEvent.objects.filter(
        action="document.ingested", target_type="knowledge.document", target_id=str(document.pk)
    )
    assert ingested.count() == 1
    assert ingested.get().details["chunks"] == expected_chunks
    return list(chunks.values_list("pk", flat=True))


def test_a_worker_killed_mid_ingest_ends_the_document_ready_exactly_once(
    broker: Valkey,
    embedding_service: FakeOpenAI,
    worker_env: dict[str, Any],
    processes: list[Process],
    tmp_path: Path,
) -> None:
    first = Worker("w1", broker.url, worker_env, tmp_path)
    processes.append(first)
    first.wait_ready()

    # 1. The kernel's OOM killer picks the pool process (it holds the model): the worker
    # sees the loss and, with reject_on_worker_lost, puts the message back; it runs again at
    # once in a new pool process.
    embedding_service.gate.clear()
    oom, oom_chunks = _upload("OOM")
    _mid_ingest(oom, embedding_service)
    (pool_process,) = first.pool_pids()
    os.kill(pool_process, signal.SIGKILL)
    killed_at = time.monotonic()
    embedding_service.gate.set()
    wait_until(lambda: _status(oom) == DocumentStatus.READY, 60, "the redelivery", log=first)
    redelivered_in = time.monotonic() - killed_at
    _assert_ready_once(oom, oom_chunks)
    assert "WorkerLostError" in first.output()
    wait_until(lambda: broker.queue_length() + broker.unacked() == 0, 10, "the ack", log=first)

    # 2. The whole worker dies (its process group, as when a container is killed). Its
    # message stays unacknowledged in the broker until the visibility timeout; the document
    # stays processing, the run counted, no chunk written.
    embedding_service.gate.clear()
    requests_before = _embedding_requests(embedding_service)
    lost, lost_chunks = _upload("Lost")
    _mid_ingest(lost, embedding_service, after=requests_before)
    first.kill()
    embedding_service.gate.set()
    lost.refresh_from_db()
    assert (lost.status, lost.ingest_attempts) == (DocumentStatus.PROCESSING, 1)
    assert Chunk.objects.filter(document=lost).count() == 0
    assert (broker.queue_length(), broker.unacked()) == (0, 1)

    # A new worker, and the beat's sweep (every 10 minutes, for documents stuck 15 minutes)
    # run now: the document is finished.
    restarted_at = time.monotonic()
    second = Worker("w2", broker.url, worker_env, tmp_path)
    processes.append(second)
    second.wait_ready()
    assert document_requeue_stale_task(minutes=0) == 1
    wait_until(lambda: _status(lost) == DocumentStatus.READY, 60, "the swept run", log=second)
    recovered_in = time.monotonic() - restarted_at
    chunk_ids = _assert_ready_once(lost, lost_chunks)

    # The visibility timeout passes (fast-forwarded: the restore a live worker runs every
    # ~100 s, here with a timeout of 0): the killed run's message comes back, and its run
    # changes nothing (the chunks are not even rebuilt).
    with Connection(broker.url, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100, interval=1)
    wait_until(
        lambda: second.output().count("succeeded") >= 2, 30, "the redelivered run", log=second
    )
    wait_until(lambda: broker.queue_length() + broker.unacked() == 0, 10, "the ack", log=second)
    assert _assert_ready_once(lost, lost_chunks) == chunk_ids
    assert _assert_ready_once(oom, oom_chunks)
    assert document_requeue_stale_task(minutes=0) == 0
    print(
        f"pool process SIGKILLed: ready {redelivered_in:.1f} s later; worker SIGKILLed: "
        f"new worker + sweep, ready {recovered_in:.1f} s after the restart"
    )
