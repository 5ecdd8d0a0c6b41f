"""Benchmark the keyword index build: storing chunks with their full-text vectors, BM25
lengths and postings, as ``knowledge.ingestion.pipeline.swap`` does, document by document.

The same synthetic chunks (384-d vectors, ~120 words each, 25 a document, the HNSW index
present as in production) are written again and again by four variants, alternating:

- ``insert``: the chunk rows alone (no keyword index): the floor the others are measured on;
- ``original``: rows, then two UPDATEs of every row (vector, then length), then postings
  checked by a foreign key, with the GIN index on ``search_vector`` the schema first had;
- ``one update``: rows, then one UPDATE (vector and length: ``_VECTORS_SQL``, which the
  pipeline now runs only for rows stored without them), then postings checked by the
  foreign key (the build before the vectors moved into the INSERT);
- ``current``: rows stored with their vectors and lengths (``chunks_insert``), then postings
  without a foreign key (a statement trigger deletes them with their chunks).

Prints the median seconds per 10,000 chunks of each, the keyword part (variant minus
``insert``) and the ratios. Run: .venv/bin/python bench/keyword_index.py [--chunks N]
[--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any

import numpy as np
from _setup import django_for_bench

# Rows without a keyword vector (what bulk_create stored before).
PLAIN_INSERT_SQL = """
INSERT INTO knowledge_chunk (document_id, collection_id, version, ordinal, text, heading_path,
    page, token_count, content_hash, embedding, embedding_model, term_count, created_at)
SELECT %(document)s, %(collection)s, %(version)s, r.ordinal, r.text, '{}', NULL, r.tokens,
    r.hash, r.embedding::vector, %(model)s, 0, now()
FROM unnest(%(ordinals)s::int[], %(texts)s::text[], %(tokens)s::int[], %(hashes)s::text[],
            %(embeddings)s::text[]) AS r(ordinal, text, tokens, hash, embedding)
"""

ORIGINAL_SQL = """
UPDATE knowledge_chunk c
SET search_vector = to_tsvector(%(config)s::regconfig,
        d.title || ' ' || array_to_string(c.heading_path, ' ') || ' ' || c.text)
FROM knowledge_document d
WHERE d.id = c.document_id AND c.document_id = ANY(%(documents)s);

UPDATE knowledge_chunk c
SET term_count = (SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)
                  FROM unnest(c.search_vector) AS t)
WHERE c.document_id = ANY(%(documents)s);
"""

FOREIGN_KEY_SQL = (
    "ALTER TABLE knowledge_posting ADD CONSTRAINT kwbench_fk FOREIGN KEY (chunk_id) "
    "REFERENCES knowledge_chunk (id) ON DELETE CASCADE NOT VALID"
)
VARIANTS = ("insert", "original", "one update", "current")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_DEBUG", "0")
    django_for_bench()
    from django.conf import settings
    from django.db import connection, transaction
    from pgvector import Vector

    from knowledge.ingestion.chunking import ChunkDraft
    from knowledge.ingestion.pipeline import _POSTINGS_SQL, _VECTORS_SQL, Prepared, chunks_insert
    from knowledge.models import Chunk, Collection, Document

    rng = np.random.default_rng(7)
    words = np.array([f"w{i}x" for i in range(20_000)])
    tag = uuid.uuid4().hex[:8]
    collection = Collection.objects.create(slug=f"kwbench-{tag}", name="kw bench")
    per_document = 25
    documents = [
        Document.objects.create(collection=collection, title=f"Doc {i} {tag}")
        for i in range(args.chunks // per_document)
    ]
    vectors = rng.standard_normal((args.chunks, settings.EMBEDDING_DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items: list[tuple[Prepared, dict[str, np.ndarray]]] = []
    for d, document in enumerate(documents):
        drafts = []
        for o in range(per_document):
            i = d * per_document + o
            drafts.append(
                ChunkDraft(
                    ordinal=o,
                    text=" ".join(rng.choice(words, size=120)),
                    heading_path=(),
                    page=None,
                    token_count=150,
                    content_hash=f"{tag}{i}",
                )
            )
        hashes = [draft.content_hash for draft in drafts]
        texts = [draft.text for draft in drafts]
        vector_of = {h: vectors[d * per_document + o] for o, h in enumerate(hashes)}
        items.append((Prepared(document, 1, drafts, texts, hashes), vector_of))
    config = settings.KNOWLEDGE_TEXT_SEARCH_CONFIG

    def write(variant: str) -> None:
        for item, vector_of in items:
            document = item.document
            with transaction.atomic(), connection.cursor() as cursor:
                params: dict[str, Any] = {"config": config, "documents": [document.pk]}
                if variant == "current":
                    chunks_insert(document, collection.pk, item, vector_of, "bench")
                else:
                    cursor.execute(
                        PLAIN_INSERT_SQL,
                        {
                            "document": document.pk,
                            "collection": collection.pk,
                            "version": 1,
                            "model": "bench",
                            "ordinals": [d.ordinal for d in item.drafts],
                            "texts": [d.text for d in item.drafts],
                            "tokens": [d.token_count for d in item.drafts],
                            "hashes": item.hashes,
                            "embeddings": [Vector(vector_of[h]).to_text() for h in item.hashes],
                        },
                    )
                    if variant == "insert":
                        continue
                    update = ORIGINAL_SQL if variant == "original" else _VECTORS_SQL
                    cursor.execute(update, params)
                cursor.execute(_POSTINGS_SQL, params)

    ids = [d.pk for d in documents]
    timings: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        for _ in range(args.rounds):
            for variant in VARIANTS:
                Chunk.objects.filter(document_id__in=ids).delete()  # postings go with them
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM knowledge_chunk")
                    cursor.execute("VACUUM knowledge_posting")
                    if variant in ("original", "one update"):
                        cursor.execute(FOREIGN_KEY_SQL)
                    if variant == "original":
                        cursor.execute(
                            "CREATE INDEX kwbench_gin ON knowledge_chunk USING gin (search_vector)"
                        )
                try:
                    started = time.perf_counter()
                    write(variant)
                    timings[variant].append(time.perf_counter() - started)
                finally:
                    with connection.cursor() as cursor:
                        cursor.execute("DROP INDEX IF EXISTS kwbench_gin")
                        cursor.execute(
                            "ALTER TABLE knowledge_posting DROP CONSTRAINT IF EXISTS kwbench_fk"
                        )
    finally:
        Chunk.objects.filter(document_id__in=ids).delete()
        Document.objects.filter(pk__in=ids).delete()
        Collection.objects.filter(pk=collection.pk).delete()
    per = 10_000 / args.chunks
    median = {variant: statistics.median(timings[variant]) * per for variant in VARIANTS}
    keyword = {variant: median[variant] - median["insert"] for variant in VARIANTS}
    print(f"{args.chunks} chunks in {len(documents)} documents, {args.rounds} rounds each;")
    print("median seconds per 10,000 chunks (rows and keyword index / keyword index alone):")
    for variant in VARIANTS:
        print(f"  {variant:<10} {median[variant]:7.2f} s   keyword part {keyword[variant]:6.2f} s")
    print(
        f"keyword part: original / current x{keyword['original'] / keyword['current']:.2f}, "
        f"one update / current x{keyword['one update'] / keyword['current']:.2f}; "
        f"whole write: original / current x{median['original'] / median['current']:.2f}"
    )


if __name__ == "__main__":
    main()
