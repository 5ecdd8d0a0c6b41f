"""Parse -> chunk -> embed (reusing unchanged chunks' vectors) -> swap chunks atomically.

One code path for a single document (the Celery task) and for bulk loads: prepare every
document, embed all missing texts in large batches, then swap each document on its own.
Until the swap commits, search answers from the previous version's chunks; a worker that
dies before it leaves those untouched and the document re-processable.

Every run counts itself in ``Document.ingest_attempts`` when it starts and sets it back to
0 when it ends (ready, failed, or a retry scheduled); a document whose runs keep dying
(killed at the hard time limit, a lost worker) reaches ``KNOWLEDGE_MAX_INGEST_ATTEMPTS`` and
is marked failed, by the next run or by the stale-document sweep, instead of being queued
again forever.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from pgvector import Vector
from psycopg.types.json import Jsonb

from knowledge.embeddings import EmbeddingBackend, get_backend
from knowledge.ingestion.chunking import ChunkDraft, chunk_blocks
from knowledge.ingestion.fetch import fetch_url
from knowledge.ingestion.limits import parse_limits
from knowledge.ingestion.parsers import ParseError, detect_content_type, parse
from knowledge.models import Chunk, Document, DocumentStatus, DocumentVersion
from portal.services import audit_event_record

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    document: Document
    version: int
    drafts: list[ChunkDraft]
    texts: list[str]  # what is embedded (and hashed): context line + chunk text
    hashes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    ready: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # already live, or superseded


def embedding_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """The text a chunk is embedded and keyword-indexed with: where it sits, then what it says."""
    context = [title] + [h for h in heading_path if h and h != title]
    return f"{' > '.join(context)}\n{text}" if context else text


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read(document: Document) -> tuple[bytes, str, str | None]:
    """(data, file name, claimed type): the stored upload, or a fresh fetch of the URL."""
    if document.file:
        with document.file.open("rb") as handle:
            return (
                handle.read(),
                document.original_filename or document.file.name,
                (document.content_type or None),
            )
    if document.source_url:
        fetched = fetch_url(document.source_url)
        digest = hashlib.sha256(fetched.data).hexdigest()
        facts = {"sha256": digest, "size_bytes": len(fetched.data)}
        Document.objects.filter(pk=document.pk, version=document.version).update(**facts)
        DocumentVersion.objects.filter(document=document, number=document.version).update(**facts)
        return fetched.data, fetched.filename, fetched.content_type
    raise ParseError("empty", "The document has no file to process.")


def prepare(document: Document) -> Prepared:
    """Parse and chunk the document's newest version; raises ParseError with a clear reason."""
    data, filename, claimed = _read(document)
    content_type = detect_content_type(filename, data, claimed)
    blocks = parse(
        data,
        content_type,
        max_bytes=settings.KNOWLEDGE_MAX_UPLOAD_BYTES,
        limits=parse_limits(),
    )
    drafts = chunk_blocks(
        blocks,
        max_tokens=settings.KNOWLEDGE_CHUNK_TOKENS,
        overlap_tokens=settings.KNOWLEDGE_CHUNK_OVERLAP_TOKENS,
    )
    if not drafts:
        raise ParseError("empty", "No text could be extracted from the file.")
    texts = [embedding_text(document.title, d.heading_path, d.text) for d in drafts]
    return Prepared(document, document.version, drafts, texts, [_hash(t) for t in texts])


def embed(items: Sequence[Prepared], backend: EmbeddingBackend) -> dict[str, np.ndarray]:
    """Vectors by content hash: stored ones reused, only new texts sent to the model."""
    wanted = {h: t for item in items for h, t in zip(item.hashes, item.texts, strict=True)}
    vectors: dict[str, np.ndarray] = {}
    for content_hash, vector in Chunk.objects.filter(
        content_hash__in=list(wanted), embedding_model=backend.model_id
    ).values_list("content_hash", "embedding"):
        vectors.setdefault(content_hash, np.asarray(vector, dtype=np.float32))
    missing = [h for h in wanted if h not in vectors]
    if missing:
        for content_hash, vector in zip(
            missing, backend.embed([wanted[h] for h in missing]), strict=True
        ):
            vectors[content_hash] = vector
    logger.info("embedded %d texts, reused %d", len(missing), len(wanted) - len(missing))
    return vectors


# A chunk's full-text vector and BM25 length are computed in the INSERT that stores it, and
# its postings are read back from the stored vectors. Computing them afterwards (an UPDATE
# of every new row) cost more than the rest: a chunk row (a 384-d vector and its text)
# fills its page, so an update is never HOT and re-inserts the row into every index of the
# table, the HNSW one included (bench/keyword_index.py).
_CHUNKS_INSERT_SQL = """
INSERT INTO knowledge_chunk (document_id, collection_id, version, ordinal, text, heading_path,
    page, token_count, content_hash, embedding, embedding_model, search_vector, term_count,
    created_at)
SELECT %(document)s, %(collection)s, %(version)s, r.ordinal, r.text, h.path, r.page,
    r.tokens, r.hash, r.embedding::vector, %(model)s, v.vector,
    (SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)
     FROM unnest(v.vector) AS t), now()
FROM unnest(%(ordinals)s::int[], %(texts)s::text[], %(headings)s::jsonb[], %(pages)s::int[],
            %(tokens)s::int[], %(hashes)s::text[], %(embeddings)s::text[])
     AS r(ordinal, text, headings, page, tokens, hash, embedding)
CROSS JOIN LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(r.headings)) AS path) h
CROSS JOIN LATERAL (
    SELECT to_tsvector(%(config)s::regconfig,
        %(title)s || ' ' || array_to_string(h.path, ' ') || ' ' || r.text) AS vector
) v
"""
_VECTORS_SQL = """
UPDATE knowledge_chunk c
SET search_vector = v.vector,
    term_count = (SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)
                  FROM unnest(v.vector) AS t)
FROM (
    SELECT c2.id, to_tsvector(%(config)s::regconfig,
        d.title || ' ' || array_to_string(c2.heading_path, ' ') || ' ' || c2.text) AS vector
    FROM knowledge_chunk c2 JOIN knowledge_document d ON d.id = c2.document_id
    WHERE c2.document_id = ANY(%(documents)s) AND c2.search_vector IS NULL
) v
WHERE c.id = v.id
"""
_POSTINGS_SQL = """
INSERT INTO knowledge_posting (chunk_id, term, collection_id, tf, dl)
SELECT c.id, t.lexeme, c.collection_id, coalesce(array_length(t.positions, 1), 1), c.term_count
FROM knowledge_chunk c CROSS JOIN LATERAL unnest(c.search_vector) AS t
WHERE c.document_id = ANY(%(documents)s) AND c.collection_id IS NOT NULL
"""


def chunks_insert(
    document: Document,
    collection_id: int | None,
    item: Prepared,
    vectors: dict[str, np.ndarray],
    model_id: str,
) -> None:
    """Store a version's chunks with their vectors, full-text vectors and BM25 lengths."""
    drafts = item.drafts
    with connection.cursor() as cursor:
        cursor.execute(
            _CHUNKS_INSERT_SQL,
            {
                "document": document.pk,
                "collection": collection_id,
                "version": item.version,
                "model": model_id,
                "config": settings.KNOWLEDGE_TEXT_SEARCH_CONFIG,
                "title": document.title,
                "ordinals": [d.ordinal for d in drafts],
                "texts": [d.text for d in drafts],
                "headings": [Jsonb(list(d.heading_path)) for d in drafts],
                "pages": [d.page for d in drafts],
                "tokens": [d.token_count for d in drafts],
                "hashes": list(item.hashes),
                "embeddings": [Vector(vectors[h]).to_text() for h in item.hashes],
            },
        )


def keyword_vectors_fill(document_ids: Sequence[int]) -> None:
    """Compute the full-text vectors and BM25 lengths of these documents' chunks that have
    none (chunks stored by COPY, or a restored document's, whose title may have changed)."""
    params = {"config": settings.KNOWLEDGE_TEXT_SEARCH_CONFIG, "documents": list(document_ids)}
    with connection.cursor() as cursor:
        cursor.execute(_VECTORS_SQL, params)


def index_keywords(document_ids: Sequence[int]) -> None:
    """Write the postings of these documents' chunks from their stored full-text vectors.

    Chunks of an archived document (no collection) get no postings: restoring the document
    calls this again once their collection is back. The documents must have no postings yet.
    """
    with connection.cursor() as cursor:
        cursor.execute(_POSTINGS_SQL, {"documents": list(document_ids)})


def chunks_withdraw(document_id: int) -> None:
    """Take a document's chunks out of search (it is archived): they keep their text and
    vectors for the records, lose their collection and their postings."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM knowledge_posting WHERE chunk_id IN "
            "(SELECT id FROM knowledge_chunk WHERE document_id = %s)",
            [document_id],
        )
    Chunk.objects.filter(document_id=document_id).update(collection_id=None)


def chunks_return(document_id: int, collection_id: int) -> None:
    """Put a withdrawn document's chunks back into search (it is restored): no re-embedding,
    only their collection and postings again."""
    # Vectors again too: the title or KNOWLEDGE_TEXT_SEARCH_CONFIG may have changed since.
    Chunk.objects.filter(document_id=document_id).update(
        collection_id=collection_id, search_vector=None
    )
    keyword_vectors_fill([document_id])
    index_keywords([document_id])


def swap(item: Prepared, vectors: dict[str, np.ndarray], backend: EmbeddingBackend) -> bool:
    """Replace the document's chunks with the prepared ones in one transaction.

    Returns False (and changes nothing) when a newer version was uploaded meanwhile, or the
    document was deleted. The chunks of an archived document are made without a collection,
    so that they stay out of search until it is restored.
    """
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=item.document.pk).first()
        if document is None or document.version != item.version:
            return False
        searchable_in = None if document.archived_at else document.collection_id
        Chunk.objects.filter(document=document).delete()  # postings cascade in the database
        chunks_insert(document, searchable_in, item, vectors, backend.model_id)
        index_keywords([document.pk])
        document.live_version = item.version
        document.status = DocumentStatus.READY
        document.error = ""
        document.chunk_count = len(item.drafts)
        document.ingest_attempts = 0
        document.claimed_until = None
        document.save(
            update_fields=[
                "live_version",
                "status",
                "error",
                "chunk_count",
                "ingest_attempts",
                "claimed_until",
                "updated_at",
            ]
        )
        DocumentVersion.objects.filter(document=document, number=item.version).update(
            status=DocumentStatus.READY, error=""
        )
        audit_event_record(
            action="document.ingested",
            target=document,
            actor_username="system",
            details={
                "version": item.version,
                "chunks": len(item.drafts),
                "model": backend.model_id,
            },
        )
    return True


def mark_failed(document_id: int, version: int, message: str) -> None:
    """Record why the version failed; the live chunks (if any) stay searchable."""
    with transaction.atomic():
        updated = Document.objects.filter(pk=document_id, version=version).update(
            status=DocumentStatus.FAILED,
            error=message,
            ingest_attempts=0,
            claimed_until=None,
            updated_at=timezone.now(),
        )
        DocumentVersion.objects.filter(document_id=document_id, number=version).update(
            status=DocumentStatus.FAILED, error=message
        )
        if updated:
            audit_event_record(
                action="document.failed",
                target_type="knowledge.document",
                target_id=document_id,
                actor_username="system",
                details={"version": version, "error": message},
            )


def interrupted_by_time_limit(error: BaseException | None) -> bool:
    """Whether Celery's soft time limit ended this run (wherever it struck, even inside a
    parser that re-raised it as damage)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SoftTimeLimitExceeded):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def attempts_exhausted_message(attempts: int) -> str:
    return (
        f"Processing did not finish after {attempts} attempts (each was stopped at the time "
        f"limit of {settings.CELERY_TASK_TIME_LIMIT} s, or its worker was lost). The document "
        "may be too large or complex: split it, or reprocess to try again."
    )


def timed_out_message() -> str:
    return (
        "Processing did not finish within the time limit "
        f"({settings.CELERY_TASK_SOFT_TIME_LIMIT} s). The document may be too large or "
        "complex: split it, or reprocess to try again."
    )


def mark_timed_out(document_id: int) -> None:
    """A run stopped by the soft time limit: fail the version it was processing."""
    version = (
        Document.objects.filter(pk=document_id, status=DocumentStatus.PROCESSING)
        .values_list("version", flat=True)
        .first()
    )
    if version is not None:
        mark_failed(document_id, version, timed_out_message())


def attempt_ended(document_id: int) -> None:
    """A run ended without dying (e.g. a transient error it will retry): it no longer counts."""
    Document.objects.filter(pk=document_id).update(ingest_attempts=0)


def fail_exhausted(document: Document) -> bool:
    """Mark the document failed if its runs died too often; True if it did."""
    if document.ingest_attempts < settings.KNOWLEDGE_MAX_INGEST_ATTEMPTS:
        return False
    mark_failed(document.pk, document.version, attempts_exhausted_message(document.ingest_attempts))
    return True


def companions_claim(document_id: int) -> list[int]:
    """Other pending uploaded documents a run for ``document_id`` takes along, so that
    several small documents are embedded in one batch (``KNOWLEDGE_INGEST_BATCH_*``).

    Taken with ``FOR UPDATE SKIP LOCKED`` and claimed until the task's hard time limit: two
    runs never take the same one, and a document's own queued task skips it while claimed
    (``ingest``). Evaluation runs' documents (ingested by their own run) and documents
    fetched from a URL are never taken along. Returns their ids."""
    most = settings.KNOWLEDGE_INGEST_BATCH_DOCUMENTS - 1
    if most <= 0:
        return []
    main = Document.objects.filter(pk=document_id).values_list("size_bytes", "file").first()
    small = settings.KNOWLEDGE_INGEST_BATCH_FILE_BYTES
    if main is None or not main[1] or main[0] > small:
        return []  # a large file or a URL to fetch goes alone
    now = timezone.now()
    with transaction.atomic():
        rows = (
            Document.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(status=DocumentStatus.PENDING, collection__evaluation_run="")
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(size_bytes__lte=settings.KNOWLEDGE_INGEST_BATCH_FILE_BYTES)
            .exclude(pk=document_id)
            .exclude(file="")
            .order_by("pk")
            .values_list("pk", "size_bytes")[:most]
        )
        taken: list[int] = []
        budget = settings.KNOWLEDGE_INGEST_BATCH_BYTES - main[0]
        for pk, size in rows:
            if size > budget:
                break
            budget -= size
            taken.append(pk)
        until = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
        Document.objects.filter(pk__in=taken).update(claimed_until=until)
    return taken


def companions_release(document_ids: Sequence[int]) -> list[int]:
    """Give back documents a failed run had taken along (pending again, unclaimed); the
    ids of those released, for the caller to queue again."""
    rows = Document.objects.filter(
        pk__in=list(document_ids),
        status__in=[DocumentStatus.PENDING, DocumentStatus.PROCESSING],
        claimed_until__isnull=False,
    )
    released = list(rows.values_list("pk", flat=True))
    Document.objects.filter(pk__in=released).update(
        status=DocumentStatus.PENDING, claimed_until=None, ingest_attempts=0
    )
    return released


def ingest(
    document_ids: Sequence[int],
    *,
    force: bool = False,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    owned: Collection[int] = (),
) -> Outcome:
    """Ingest documents; already-live versions are skipped unless ``force`` (re-index).
    A document another run has taken along (``companions_claim``) is skipped, unless this
    run is that one (``owned``)."""
    owned_ids = list(owned)
    backend = get_backend()
    outcome = Outcome()
    for start in range(0, len(document_ids), batch_size):
        wanted = document_ids[start : start + batch_size]
        batch = list(Document.objects.filter(pk__in=wanted).order_by("pk"))
        # Deleted since they were queued: nothing to do.
        outcome.skipped.extend(sorted(set(wanted) - {document.pk for document in batch}))
        prepared: list[Prepared] = []
        for document in batch:
            done = document.status == DocumentStatus.READY and (
                document.live_version == document.version
            )
            # A failed version keeps its reason until someone reprocesses it (-> pending).
            if not force and (done or document.status == DocumentStatus.FAILED):
                outcome.skipped.append(document.pk)
                continue
            if fail_exhausted(document):
                # Redelivered after its worker died again and again: stop here.
                outcome.failed[document.pk] = attempts_exhausted_message(document.ingest_attempts)
                continue
            now = timezone.now()
            free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now) | Q(pk__in=owned_ids)
            taken = Document.objects.filter(free, pk=document.pk, version=document.version).update(
                status=DocumentStatus.PROCESSING,
                ingest_attempts=F("ingest_attempts") + 1,
                updated_at=now,
            )
            if not taken:
                # Another run took it along, or a newer version was uploaded (its own task).
                outcome.skipped.append(document.pk)
                continue
            try:
                prepared.append(prepare(document))
            except ParseError as error:
                if interrupted_by_time_limit(error):
                    raise
                mark_failed(document.pk, document.version, str(error))
                outcome.failed[document.pk] = str(error)
            except FileNotFoundError:
                if Document.objects.filter(pk=document.pk).exists():
                    raise
                # Deleted while it was being read (its files go when the delete commits).
                outcome.skipped.append(document.pk)
        vectors = embed(prepared, backend)
        for item in prepared:
            if swap(item, vectors, backend):
                outcome.ready.append(item.document.pk)
            else:
                outcome.skipped.append(item.document.pk)
        if progress:
            progress(len(wanted))
    return outcome
