"""Benchmark ingestion: embedding throughput and documents per second through Celery.

Compares, in one run and on the same chunk texts: a plain sentence-transformers
``encode`` (the floor), each local embedding backend (``local``: sentence-transformers
fp32; ``onnx``: ONNX Runtime int8), and end-to-end ingestion of new documents by a real
Celery worker with each backend (parse, chunk, embed, swap, keyword index), one document per
run (``KNOWLEDGE_INGEST_BATCH_DOCUMENTS=1``, the default) and with cross-document batching
(16), with one or more worker pools (processes x embedding threads each).
Run: .venv/bin/python bench/ingest.py [--documents N] [--backends local,onnx] [--batches 1,16]
     [--pools 1x0,2x1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

from _setup import ROOT, django_for_bench

SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def corpus(count: int) -> list[tuple[str, str]]:
    """(title, text) pairs: SciFact abstracts when present, else generated prose."""
    if SCIFACT.exists():
        rows = []
        with SCIFACT.open() as handle:
            for line in handle:
                row = json.loads(line)
                rows.append((row["title"][:250] or row["_id"], row["text"]))
                if len(rows) == count:
                    break
        return rows
    sentence = "The bank reviews card disputes within ten business days of the request. "
    return [(f"Generated {i}", sentence * (20 + i % 30)) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--backends", default="local,onnx")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument(
        "--pools",
        default="1x2,2x0",
        help="Worker pools as PROCESSESxTHREADS (threads: EMBEDDING_TORCH_THREADS; 0 = auto, "
        "the cores divided among the pool's processes), e.g. 1x2,2x2,2x0.",
    )
    args = parser.parse_args()
    batches = [int(size) for size in args.batches.split(",") if size.strip()]
    pools: list[tuple[int, int]] = []
    for pool in args.pools.split(","):
        match = re.fullmatch(r"\s*([1-9][0-9]*)x([0-9]+)\s*", pool)
        if not match:
            parser.error(f"--pools: {pool!r} is not PROCESSESxTHREADS (e.g. 2x0)")
        pools.append((int(match[1]), int(match[2])))
    kinds = [kind.strip() for kind in args.backends.split(",") if kind.strip()]
    if not os.environ.get("REDIS_URL"):
        from portal.devstack.config import embedded_redis_url

        # A broker database of its own, so that no other worker takes the bench's tasks.
        os.environ["REDIS_URL"] = embedded_redis_url(2)
    django_for_bench()

    from django.conf import settings

    from knowledge.ingestion.chunking import chunk_blocks
    from knowledge.ingestion.parsers import TEXT, parse
    from knowledge.ingestion.pipeline import embedding_text

    tag = uuid.uuid4().hex[:6]
    documents = [(f"{title} [{tag}]", text) for title, text in corpus(args.documents)]
    texts = []
    for title, text in documents:
        blocks = parse(text.encode(), TEXT)
        drafts = chunk_blocks(blocks, max_tokens=settings.KNOWLEDGE_CHUNK_TOKENS,
                              overlap_tokens=settings.KNOWLEDGE_CHUNK_OVERLAP_TOKENS)  # fmt: skip
        texts.extend(embedding_text(title, d.heading_path, d.text) for d in drafts)
    print(f"{len(documents)} documents, {len(texts)} chunks")

    from knowledge.embeddings import _backend

    local = _backend("local", settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS,
                     settings.EMBEDDING_BATCH_SIZE)  # fmt: skip
    local.embed(["warm up"])
    model = local._model  # type: ignore[attr-defined]
    started = time.perf_counter()
    model.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE, normalize_embeddings=True)
    plain = len(texts) / (time.perf_counter() - started)
    rows = [("plain sentence-transformers encode", f"{plain:.1f} chunks/s")]
    for kind in kinds:
        backend = _backend(kind, settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS,
                           settings.EMBEDDING_BATCH_SIZE)  # fmt: skip
        backend.embed(["warm up"])  # the onnx backend exports its model here the first time
        started = time.perf_counter()
        backend.embed(texts)
        rate = len(texts) / (time.perf_counter() - started)
        rows.append((f"backend {kind}: embed", f"{rate:.1f} chunks/s ({rate / plain:.2f}x plain)"))
    end_to_end = {}
    for kind in kinds:
        for batch in batches:
            for processes, threads in pools:
                ready, queued, chunks, elapsed = _through_celery(
                    kind, documents, tag, batch, processes, threads
                )
                end_to_end[(kind, batch, processes, threads)] = ready / elapsed
                rows.append((
                    f"{kind}, batch {batch}, {processes} process(es) x "
                    f"{threads or 'auto'} thread(s): end to end",
                    f"{ready / elapsed:.2f} documents/s, {chunks / elapsed:.1f} chunks/s "
                    f"({chunks / elapsed / plain:.2f}x plain encode); {ready} / {queued} ready",
                ))  # fmt: skip
    base = ("local", 1, *pools[0])
    if base in end_to_end:
        for key, rate in end_to_end.items():
            if key != base:
                rows.append(
                    (
                        f"end to end, {key[0]} batch {key[1]} {key[2]}x{key[3]} / "
                        f"local batch 1 {base[2]}x{base[3]}",
                        f"x{rate / end_to_end[base]:.2f}",
                    )
                )
    print("\n| measure | value |")
    print("| --- | ---: |")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


def _through_celery(
    kind: str,
    documents: list[tuple[str, str]],
    tag: str,
    batch: int,
    processes: int = 1,
    threads: int = 0,
) -> tuple[int, int, int, float]:
    """New documents ingested by a real worker using backend ``kind``, ``batch`` documents
    per run at most: (ready, queued, chunks, seconds from the upload to the last one
    ready)."""
    from django.core.files.base import ContentFile
    from django.db import transaction

    from knowledge.models import Chunk, Document, DocumentStatus
    from knowledge.services import collection_create, collection_delete, document_create

    env = {**os.environ, "EMBEDDING_BACKEND": kind, "KNOWLEDGE_INGEST_BATCH_DOCUMENTS": str(batch),
           "EMBEDDING_TORCH_THREADS": str(threads), "EMBEDDING_WARM_ON_START": "true"}  # fmt: skip
    name = f"bench-{kind}-{batch}-{processes}x{threads}-{tag}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", f"--concurrency={processes}",
         "--loglevel=WARNING", f"--hostname={name}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(8)  # worker start-up is not part of the measurement
        collection = collection_create(actor=None, slug=name.replace("bench-", "bench-ingest-"),
                                       name=f"Bench ingest {name}",
                                       read_roles=["admin"], manage_roles=["admin"])  # fmt: skip
        # A document per process first, waited for: the pool processes load their model (on
        # start, EMBEDDING_WARM_ON_START; not measured).
        with transaction.atomic():
            warm = [
                document_create(actor=None, collection=collection, title=f"warm {kind} {i}",
                                file=ContentFile(b"Warm up.", name="doc.txt")).pk
                for i in range(processes)
            ]  # fmt: skip
        while Document.objects.filter(pk__in=warm, status__in=[
                DocumentStatus.PENDING, DocumentStatus.PROCESSING]).exists():  # fmt: skip
            time.sleep(0.2)
        time.sleep(2)
        started = time.perf_counter()
        with transaction.atomic():
            ids = [
                document_create(actor=None, collection=collection,
                                title=f"{title} {kind} {batch}",
                                file=ContentFile(text.encode(), name="doc.txt")).pk
                for title, text in documents
            ]  # fmt: skip
        while Document.objects.filter(pk__in=ids, status__in=[
                DocumentStatus.PENDING, DocumentStatus.PROCESSING]).exists():  # fmt: skip
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    ready = Document.objects.filter(pk__in=ids, status=DocumentStatus.READY).count()
    chunks = Chunk.objects.filter(document_id__in=ids).count()
    collection_delete(actor=None, collection=collection)  # the next run starts alike
    return ready, len(ids), chunks, elapsed


if __name__ == "__main__":
    main()
