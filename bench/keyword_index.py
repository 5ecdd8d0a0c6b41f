"""Benchmark the keyword index build (``knowledge.ingestion.pipeline.index_keywords``).

The same synthetic chunks (384-d vectors, ~120 words each) are indexed again and again by
two variants, alternating: the previous build (two UPDATEs of every chunk row, then the
postings; with the GIN index on ``search_vector`` that the schema had) and the current one
(``_INDEX_SQL``: one UPDATE, then the postings; no GIN index). Prints the median seconds
per 10,000 chunks of each and the ratio. Run: .venv/bin/python bench/keyword_index.py
[--chunks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

import numpy as np
from _setup import django_for_bench

PREVIOUS_SQL = """
UPDATE knowledge_chunk c
SET search_vector = to_tsvector(%(config)s::regconfig,
        d.title || ' ' || array_to_string(c.heading_path, ' ') || ' ' || c.text)
FROM knowledge_document d
WHERE d.id = c.document_id AND c.document_id = ANY(%(documents)s);

UPDATE knowledge_chunk c
SET term_count = (SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)
                  FROM unnest(c.search_vector) AS t)
WHERE c.document_id = ANY(%(documents)s);

INSERT INTO knowledge_posting (chunk_id, term, collection_id, tf, dl)
SELECT c.id, t.lexeme, c.collection_id, coalesce(array_length(t.positions, 1), 1), c.term_count
FROM knowledge_chunk c CROSS JOIN LATERAL unnest(c.search_vector) AS t
WHERE c.document_id = ANY(%(documents)s) AND c.collection_id IS NOT NULL;
"""

RESET_SQL = """
DELETE FROM knowledge_posting WHERE chunk_id IN
    (SELECT id FROM knowledge_chunk WHERE document_id = ANY(%(documents)s));
UPDATE knowledge_chunk SET search_vector = NULL, term_count = 0
WHERE document_id = ANY(%(documents)s);
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_DEBUG", "0")
    django_for_bench()
    from django.conf import settings
    from django.db import connection

    from knowledge.ingestion.pipeline import _INDEX_SQL
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
    Chunk.objects.bulk_create(
        [
            Chunk(
                document=documents[i // per_document],
                collection=collection,
                version=1,
                ordinal=i % per_document,
                text=" ".join(rng.choice(words, size=120)),
                token_count=150,
                content_hash=f"{tag}{i}",
                embedding=vectors[i],
                embedding_model="bench",
            )
            for i in range(args.chunks)
        ],
        batch_size=2000,
    )
    ids = [d.pk for d in documents]
    params = {"config": settings.KNOWLEDGE_TEXT_SEARCH_CONFIG, "documents": ids}
    timings: dict[str, list[float]] = {"previous": [], "current": []}
    try:
        for _ in range(args.rounds):
            for variant in ("previous", "current"):
                with connection.cursor() as cursor:
                    cursor.execute(RESET_SQL, params)
                    cursor.execute("VACUUM knowledge_chunk")
                    if variant == "previous":
                        cursor.execute(
                            "CREATE INDEX IF NOT EXISTS kwbench_gin ON knowledge_chunk "
                            "USING gin (search_vector)"
                        )
                    started = time.perf_counter()
                    cursor.execute(PREVIOUS_SQL if variant == "previous" else _INDEX_SQL, params)
                    timings[variant].append(time.perf_counter() - started)
                    cursor.execute("DROP INDEX IF EXISTS kwbench_gin")
    finally:
        collection_id = collection.pk
        Chunk.objects.filter(collection_id=collection_id).delete()
        Document.objects.filter(collection_id=collection_id).delete()
        Collection.objects.filter(pk=collection_id).delete()
    per = 10_000 / args.chunks
    previous = statistics.median(timings["previous"]) * per
    current = statistics.median(timings["current"]) * per
    print(f"{args.chunks} chunks, {args.rounds} rounds each, seconds per 10,000 chunks:")
    print(f"  previous (two UPDATEs, GIN index): median {previous:.2f} s")
    print(f"  current (one UPDATE, no GIN):      median {current:.2f} s")
    print(f"  speed-up: x{previous / current:.2f}")


if __name__ == "__main__":
    main()
