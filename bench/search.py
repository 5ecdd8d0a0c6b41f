"""Benchmark chunk_search on a synthetic corpus: latency, filtered-HNSW recall, k results.

100,000 chunks (384-d vectors and text) by default, in 20 collections; the searching user may
read 2 of them (10% of the rows). The three modes take turns query by query, after the HNSW
index is read into shared_buffers (pg_prewarm). Query embedding is excluded from the search
latency and timed separately with both local backends (fp32 and int8) on SciFact's questions.
Then hybrid throughput with 1, 4 and 16 concurrent clients, and the on-disk sizes of the
chunk and posting tables and their indexes.
Run: .venv/bin/python bench/search.py [--chunks N] [--reuse] [--clients 1,4,16]
(--chunks 1000000 needs about 20 GB of disk and about 20 minutes to load on two cores, and
EMBEDDED_PG_SHARED_BUFFERS=4GB or more for the embedded server to keep its HNSW index.)
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from _setup import django_for_bench

WORDS_PER_TOPIC = 400
VOCABULARY = 30_000


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def synthetic_corpus(rng: np.random.Generator, chunks: int, topics: int, dims: int) -> Any:
    """Clustered unit vectors (like real embeddings) and topic-correlated Zipf text."""
    centers = rng.standard_normal((topics, dims)).astype(np.float32)
    topic_of = rng.integers(0, topics, chunks)
    vectors = centers[topic_of] + 0.9 * rng.standard_normal((chunks, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = np.array([f"w{i}x" for i in range(VOCABULARY)])
    topic_words = rng.integers(0, VOCABULARY, (topics, WORDS_PER_TOPIC))
    zipf = 1 / np.arange(1, VOCABULARY + 1)
    zipf /= zipf.sum()
    cdf = zipf.cumsum()
    cdf /= cdf[-1]
    texts = []
    for i in range(chunks):
        # What rng.choice(VOCABULARY, size, p=zipf) does, without its cumulative sum per call.
        general = cdf.searchsorted(rng.random(int(rng.integers(40, 90))), side="right")
        focused = topic_words[topic_of[i], rng.integers(0, WORDS_PER_TOPIC, 25)]
        texts.append(" ".join(vocabulary[np.concatenate([general, focused])]))
    return centers, topic_of, vectors, texts, vocabulary, topic_words


def load(
    chunks: int,
    collections: int,
    dims: int,
    seed: int,
    reuse: bool,
    maintenance_work_mem: str = "1GB",
) -> dict[str, Any]:
    from django.db import connection, transaction

    from knowledge.embeddings import get_backend
    from knowledge.ingestion.pipeline import index_keywords, keyword_vectors_fill
    from knowledge.models import Chunk, Collection, Document
    from knowledge.services import collection_create, collection_delete

    rng = np.random.default_rng(seed)
    centers, _, vectors, texts, vocabulary, topic_words = synthetic_corpus(rng, chunks, 200, dims)
    model_id = get_backend().model_id
    result = {
        "rng": np.random.default_rng(seed + 1), "centers": centers, "vocabulary": vocabulary,
        "topic_words": topic_words, "readable": ["bench-00", "bench-01"], "model_id": model_id,
    }  # fmt: skip
    existing = Chunk.objects.filter(collection__slug__regex=r"^bench-[0-9]+$").count()
    if reuse and existing == chunks:
        print(f"reusing the {chunks} loaded chunks")
        return result
    for old in Collection.objects.filter(slug__regex=r"^bench-[0-9]+$"):
        collection_delete(actor=None, collection=old)
    started = time.perf_counter()
    made = [
        collection_create(actor=None, slug=f"bench-{i:02d}", name=f"Bench {i}",
                          read_roles=["compliance"], manage_roles=["admin"])
        for i in range(collections)
    ]  # fmt: skip
    per_document = 50
    index = Chunk._meta.indexes[0]  # the HNSW index: faster to build once after loading
    with connection.schema_editor() as editor:
        editor.remove_index(Chunk, index)
    documents = Document.objects.bulk_create(
        # Documents take turns over the collections: each holds 1/collections of the rows.
        Document(collection=made[(i // per_document) % collections],
                 title=f"Bench document {i // per_document}",
                 status="ready", version=1, live_version=1)
        for i in range(0, chunks, per_document)
    )  # fmt: skip
    columns = (
        "document_id, collection_id, version, ordinal, text, heading_path, page, "
        "token_count, content_hash, embedding, embedding_model, term_count, created_at"
    )
    step = 20_000
    for first in range(0, chunks, step):
        buffer = io.StringIO()
        rounded = np.round(vectors[first : first + step].astype(np.float64), 6).tolist()
        for i in range(first, min(first + step, chunks)):
            document = documents[i // per_document]
            buffer.write(
                f"{document.pk}\t{document.collection_id}\t1\t{i % per_document}\t{texts[i]}\t"
                f"{{}}\t\\N\t{len(texts[i].split())}\t{i:064x}\t{rounded[i - first]}\t"
                f"{model_id}\t0\tnow()\n"
            )
        buffer.seek(0)
        sql = f"COPY knowledge_chunk ({columns}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            while data := buffer.read(1 << 20):
                copy.write(data)
    loaded = time.perf_counter() - started
    # The keyword index as a bulk load does it: the covering index that BM25 reads is built
    # once after the postings (sorted, not inserted into entry by entry).
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS knowledge_posting_term_cover")
    document_ids = [d.pk for d in documents]
    for first in range(0, len(document_ids), 1000):
        with transaction.atomic():
            keyword_vectors_fill(document_ids[first : first + 1000])  # COPY stored none
            index_keywords(document_ids[first : first + 1000])
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cursor.execute(
            "CREATE INDEX knowledge_posting_term_cover ON knowledge_posting "
            "(term, collection_id) INCLUDE (chunk_id, tf, dl)"
        )
    keywords = time.perf_counter() - started - loaded
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
    with connection.schema_editor() as editor:
        editor.add_index(Chunk, index)
    hnsw = time.perf_counter() - started - loaded - keywords
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE knowledge_chunk")
        cursor.execute("VACUUM ANALYZE knowledge_posting")
    print(f"load {loaded:.0f} s, keyword index {keywords:.0f} s, HNSW build {hnsw:.0f} s")
    return result


class FixedQueries:
    """Stands in for the embedding backend: the query vectors are made in advance."""

    def __init__(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        self.model_id = model_id
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


def concurrent(user: Any, texts: list[str], clients: int) -> tuple[float, float, float]:
    """Hybrid searches by ``clients`` threads at once (each its own database connection),
    every query once per client: (queries per second, p50 ms, p95 ms)."""
    import threading

    from django.db import connection

    import knowledge.selectors as selectors

    times: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(offset: int) -> None:
        mine = []
        try:
            order = texts[offset:] + texts[:offset]
            selectors.chunk_search(user, order[0], k=10, mode="hybrid")  # connect, warm
            barrier.wait()
            for text in order:
                started = time.perf_counter()
                selectors.chunk_search(user, text, k=10, mode="hybrid")
                mine.append((time.perf_counter() - started) * 1000)
        finally:
            connection.close()
        with lock:
            times.extend(mine)

    threads = [
        threading.Thread(target=client, args=(i * len(texts) // clients,)) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(times) / elapsed, statistics.median(times), percentile(times, 95)


def print_sizes(chunks: int) -> None:
    """On-disk sizes of the chunk and posting tables and their indexes, and per million."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid)"
            " + coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0) "
            "FROM pg_class c WHERE c.relname IN ('knowledge_chunk', 'knowledge_posting') "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN "
            "('knowledge_chunk'::regclass, 'knowledge_posting'::regclass)) ORDER BY 2 DESC"
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM knowledge_posting")
        (postings,) = cursor.fetchone()
    per_million = 1_000_000 / max(chunks, 1)
    print(f"\npostings: {postings} ({postings / max(chunks, 1):.0f} a chunk)")
    print("| relation | size | per million chunks |")
    print("| --- | ---: | ---: |")
    for name, size in rows:
        print(f"| {name} | {size / 2**20:.0f} MiB | {size * per_million / 2**30:.2f} GiB |")
    total = sum(size for _, size in rows)
    print(f"| total | {total / 2**20:.0f} MiB | {total * per_million / 2**30:.2f} GiB |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="Keep an already loaded corpus.")
    parser.add_argument(
        "--maintenance-work-mem",
        default="",
        help="For the index builds (default 1GB, 4GB from 500k chunks).",
    )
    parser.add_argument(
        "--clients", default="1,4,16", help="Concurrent clients for the hybrid throughput run."
    )
    args = parser.parse_args()
    memory = args.maintenance_work_mem or ("4GB" if args.chunks >= 500_000 else "1GB")
    django_for_bench()

    from django.conf import settings
    from django.db import DatabaseError, connection, transaction

    import knowledge.selectors as selectors
    from portal.permissions import Role
    from portal.services import user_ensure

    data = load(
        args.chunks, args.collections, settings.EMBEDDING_DIMENSIONS, args.seed, args.reuse, memory
    )
    rng = data["rng"]
    # The reader may read exactly two collections (10% of the rows).
    from knowledge.models import Collection

    Collection.objects.filter(slug__in=data["readable"]).update(read_roles=["agent"])
    Collection.objects.exclude(slug__in=data["readable"]).update(read_roles=["admin"])
    user, _ = user_ensure(username="bench-reader", password=uuid.uuid4().hex, roles=[Role.AGENT])

    queries: dict[str, np.ndarray] = {}
    for i in range(args.queries):
        topic = int(rng.integers(0, len(data["centers"])))
        vector = data["centers"][topic] + 0.9 * rng.standard_normal(len(data["centers"][topic]))
        words = data["vocabulary"][data["topic_words"][topic, rng.integers(0, WORDS_PER_TOPIC, 4)]]
        text = f"q{i} " + " ".join(words)
        queries[text] = (vector / np.linalg.norm(vector)).astype(np.float32)
    selectors.get_backend = lambda: FixedQueries(data["model_id"], queries)  # type: ignore[assignment]

    readable_ids = list(
        Collection.objects.filter(slug__in=data["readable"]).values_list("id", flat=True)
    )
    prewarmed = "HNSW index prewarmed"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # The HNSW index into PostgreSQL's own cache, as on a server that has been
            # searching for a while (it fits when shared_buffers is sized for it:
            # EMBEDDED_PG_SHARED_BUFFERS).
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute("SELECT pg_prewarm('chunk_embedding_hnsw')")
    except DatabaseError as error:  # not a superuser, no pg_prewarm: measured as it is
        prewarmed = f"not prewarmed: {str(error).strip()}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        (shared_buffers,) = cursor.fetchone()
    results: dict[str, list[float]] = {}
    short = {mode: 0 for mode in ("dense", "keyword", "hybrid")}
    modes = ("dense", "keyword", "hybrid")
    for mode in modes:
        results[mode] = []
        for text in list(queries)[:10]:  # warm the caches
            selectors.chunk_search(user, text, k=10, mode=mode)
    # The modes take turns query by query (in a rotating order), so that the caches warming
    # up and any noise reach them alike.
    for i, text in enumerate(queries):
        for mode in modes[i % 3 :] + modes[: i % 3]:
            started = time.perf_counter()
            result = selectors.chunk_search(user, text, k=10, mode=mode)
            results[mode].append((time.perf_counter() - started) * 1000)
            short[mode] += len(result.hits) < 10

    recalls = []
    for vector in queries.values():
        approximate = [
            row[0] for row in selectors._dense(vector, readable_ids, data["model_id"], 10)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(
                "SELECT id FROM knowledge_chunk WHERE collection_id = ANY(%s) "
                "ORDER BY embedding <=> %s::vector LIMIT 10",
                [readable_ids, "[" + ",".join(str(float(x)) for x in vector) + "]"],
            )
            exact = [row[0] for row in cursor.fetchall()]
        recalls.append(len(set(approximate) & set(exact)) / 10)

    from knowledge.embeddings import _backend

    # Real questions (SciFact's claims) when the data is there: the synthetic ones are words
    # of a made-up vocabulary.
    scifact = Path(__file__).resolve().parent.parent.parent / "shared/data/scifact/queries.jsonl"
    questions = list(queries)[:50]
    if scifact.exists():
        with scifact.open() as handle:
            lines = [line for line, _ in zip(handle, range(50), strict=False)]
            questions = [json.loads(line)["text"] for line in lines]
    embed_times: dict[str, list[float]] = {}
    for kind in ("local", "onnx"):  # the fp32 default and the int8 backend, same texts
        backend = _backend(kind, settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS,
                           settings.EMBEDDING_BATCH_SIZE)  # fmt: skip
        try:
            backend.embed_query("warm up")  # onnx: exported here the first time
        except Exception as error:  # report it, keep the search figures
            print(f"query embedding ({kind}) not measured: {error}")
            continue
        embed_times[kind] = []
        for text in questions:
            started = time.perf_counter()
            backend.embed_query(text)
            embed_times[kind].append((time.perf_counter() - started) * 1000)

    throughput = []
    for clients in [int(c) for c in args.clients.split(",") if c]:
        throughput.append((clients, *concurrent(user, list(queries), clients)))

    print(f"\nchunks={args.chunks} collections={args.collections} readable=2 "
          f"queries={len(queries)} ef_search={settings.KNOWLEDGE_HNSW_EF_SEARCH} "
          f"shared_buffers={shared_buffers} ({prewarmed})")  # fmt: skip
    print("| mode | p50 ms | p95 ms | queries with < k results |")
    print("| --- | ---: | ---: | ---: |")
    for mode, times in results.items():
        print(f"| {mode} | {statistics.median(times):.1f} | {percentile(times, 95):.1f} "
              f"| {short[mode]} |")  # fmt: skip
    print(f"\nfiltered HNSW recall@10 vs exact: mean {statistics.fmean(recalls):.3f}, "
          f"min {min(recalls):.2f}")  # fmt: skip
    for kind, times in embed_times.items():
        print(f"query embedding ({kind}): p50 {statistics.median(times):.1f} ms, "
              f"p95 {percentile(times, 95):.1f} ms")  # fmt: skip
    print("\n| hybrid, clients | queries/s | p50 ms | p95 ms |")
    print("| ---: | ---: | ---: | ---: |")
    for clients, rate, p50, p95 in throughput:
        print(f"| {clients} | {rate:.1f} | {p50:.1f} | {p95:.1f} |")
    print_sizes(args.chunks)


if __name__ == "__main__":
    main()
