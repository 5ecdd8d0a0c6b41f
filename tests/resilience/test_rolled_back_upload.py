"""A rolled-back transaction enqueues nothing: the ingestion task is sent on commit only,
checked on a real broker's queue (a Valkey of the test's own, nothing else publishing)."""

from __future__ import annotations

import contextlib
import json
from base64 import b64decode
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from knowledge.demo import seed_collections
from knowledge.models import Document, DocumentStatus
from knowledge.services import document_create, document_replace_file, document_reprocess
from tests.resilience.support import Valkey

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")


class Rollback(Exception):
    pass


def _rolled_back(action: Callable[[], T]) -> T:
    """Run ``action`` in a transaction that is then rolled back; return what it returned."""
    done: list[T] = []
    with contextlib.suppress(Rollback), transaction.atomic():
        done.append(action())
        raise Rollback
    return done[0]


def _queued_documents(broker: Valkey) -> list[int]:
    """The document ids of the ingestion messages waiting in the queue."""
    ids = []
    for raw in broker.client().lrange("celery", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "knowledge.tasks.document_ingest_task"
        args, _, _ = json.loads(b64decode(message["body"]))
        ids.append(int(args[0]))
    return ids


def _upload(title: str) -> Document:
    return document_create(
        actor=None,
        collection=seed_collections()["products-fees"],
        title=title,
        file=ContentFile(b"Card replacement is free.", name="fees.txt"),
    )


def test_a_rolled_back_upload_enqueues_nothing(broker: Valkey) -> None:
    seed_collections()
    # The upload (its own atomic block) inside a transaction that is rolled back.
    rolled_back = _rolled_back(lambda: _upload("Rolled back"))
    assert not Document.objects.filter(pk=rolled_back.pk).exists()
    # A savepoint rolled back inside a transaction that commits: still nothing for it.
    with transaction.atomic():
        _rolled_back(lambda: _upload("Savepoint rolled back"))
        kept = _upload("Committed with it")
    assert _queued_documents(broker) == [kept.pk]  # the committed one, once

    # Reprocessing and a new file, rolled back: nothing more is queued, nothing changed.
    Document.objects.filter(pk=kept.pk).update(status=DocumentStatus.FAILED, error="x")
    _rolled_back(lambda: document_reprocess(actor=None, document=Document.objects.get(pk=kept.pk)))
    _rolled_back(
        lambda: document_replace_file(
            actor=None,
            document=Document.objects.get(pk=kept.pk),
            file=ContentFile(b"Now 5 euros.", name="fees.txt"),
        )
    )
    assert _queued_documents(broker) == [kept.pk]
    stored = Document.objects.get(pk=kept.pk)
    assert (stored.status, stored.version) == (DocumentStatus.FAILED, 1)

    # The same calls committed are queued (the check can fail).
    document_reprocess(actor=None, document=stored)
    assert _queued_documents(broker) == [kept.pk, kept.pk]
