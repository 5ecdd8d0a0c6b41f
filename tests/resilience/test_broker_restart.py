"""The broker restarted, cleanly and by a crash, with documents queued and in flight, and
down while documents are uploaded: every document ends ``ready`` exactly once.

Real processes: a Valkey of the test's own (started, stopped with SIGTERM, killed with
SIGKILL and started again on the same port and data), ``celery -A portal worker``, the
test database; uploads through the service and through the API.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from knowledge.demo import seed_collections
from knowledge.models import Document, DocumentStatus
from knowledge.services import document_create
from knowledge.tasks import document_requeue_stale_task
from portal.models import AuditEvent
from portal.permissions import Role
from tests.resilience.support import Process, Valkey, Worker, wait_until
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(title: str) -> Document:
    return document_create(
        actor=None,
        collection=seed_collections()["products-fees"],
        title=title,
        file=ContentFile(f"# {title}\n\nCard replacement for {title} is free.".encode(), "f.md"),
    )


def _status(document: Document) -> str:
    return str(Document.objects.values_list("status", flat=True).get(pk=document.pk))


def _ready(*documents: Document) -> bool:
    return all(_status(document) == DocumentStatus.READY for document in documents)


def test_broker_restarts_and_outages_lose_no_document(
    broker: Valkey,
    embedding_service: FakeOpenAI,
    worker_env: dict[str, Any],
    processes: list[Process],
    tmp_path: Path,
    client: Client,
    make_user: Any,
) -> None:
    seed_collections()
    client.force_login(make_user("content", Role.CONTENT_MANAGER))

    # 1. Two documents queued (no worker yet), then a clean restart of the broker: Valkey
    # writes its snapshot on SIGTERM, the messages survive.
    queued = [_upload("Queued A"), _upload("Queued B")]
    assert broker.queue_length() == 2
    broker.stop()

    # 2. Uploads while the broker is down: accepted, kept pending (nothing to lose), and
    # quickly (the send is tried once, after the commit).
    started = time.monotonic()
    offline = [_upload("Offline C")]
    response = client.post(
        "/api/v1/documents/",
        {"collection": "products-fees", "title": "Offline D",
         "file": ContentFile(b"# D\n\nCard replacement for D is free.", name="d.md")},
    )  # fmt: skip
    upload_seconds = (time.monotonic() - started) / 2
    assert response.status_code == 201, response.content
    assert response.json()["status"] == DocumentStatus.PENDING
    offline.append(Document.objects.get(pk=response.json()["id"]))
    assert upload_seconds < 8
    assert all(_status(document) == DocumentStatus.PENDING for document in offline)

    broker.start()
    assert broker.queue_length() == 2
    # One document per run: here the sweep, not cross-document batching (tests/knowledge/
    # test_tasks.py), must find what no message announces.
    worker_env = {**worker_env, "KNOWLEDGE_INGEST_BATCH_DOCUMENTS": "1"}
    worker = Worker("w1", broker.url, worker_env, tmp_path)
    processes.append(worker)
    worker.wait_ready()
    wait_until(lambda: _ready(*queued), 60, "the queued documents", log=worker)
    # Nothing queued the offline uploads: the sweep does.
    assert all(_status(document) == DocumentStatus.PENDING for document in offline)
    assert document_requeue_stale_task(minutes=0) == 2
    wait_until(lambda: _ready(*offline), 60, "the swept documents", log=worker)

    def _embedding_calls() -> int:
        return sum(r["path"].endswith("/embeddings") for r in embedding_service.requests)

    before = _embedding_calls()
    # 3. The broker crashes (SIGKILL: no snapshot) with one document in the worker's hands
    # and one waiting in the queue. The worker finishes the first, reconnects once the
    # broker is back, and takes new work; the sweep finds what the crash lost.
    embedding_service.gate.clear()  # the worker is held in G's embedding call
    in_flight = _upload("In flight G")
    wait_until(
        lambda: _status(in_flight) == DocumentStatus.PROCESSING and _embedding_calls() > before,
        30,
        "G in flight",
        log=worker,
    )
    waiting = _upload("Waiting H")
    assert broker.queue_length() == 1
    broker.crash()
    broker.start()
    restarted_at = time.monotonic()
    embedding_service.gate.set()
    after = _upload("After the restart E")
    wait_until(lambda: _ready(in_flight, after), 60, "G and E", log=worker)
    reconnected_in = time.monotonic() - restarted_at
    lost = [d for d in (waiting,) if _status(d) != DocumentStatus.READY]
    assert document_requeue_stale_task(minutes=0) == len(lost)
    wait_until(lambda: _ready(waiting), 60, "the lost document", log=worker)

    documents = [*queued, *offline, in_flight, waiting, after]
    assert Document.objects.filter(status=DocumentStatus.READY).count() == len(documents)
    for document in documents:
        document.refresh_from_db()
        assert (document.chunk_count, document.live_version) == (1, 1)
        assert document.chunks.count() == 1
        assert (
            AuditEvent.objects.filter(
                action="document.ingested", target_id=str(document.pk)
            ).count()
            == 1
        )
    print(
        f"upload with the broker down: {upload_seconds:.2f} s; after a broker crash, "
        f"new work done {reconnected_in:.1f} s after the restart; lost by the crash: {len(lost)}"
    )
