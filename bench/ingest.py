"""Benchmark ingestion: embedding throughput and documents per second through Celery.

Compares, in one run and on the same chunk texts: a plain sentence-transformers
``encode`` (the floor), the portal's embedding backend, and end-to-end ingestion of new
documents by a real Celery worker (parse, chunk, embed, swap, keyword index).
Run: .venv/bin/python bench/ingest.py [--documents N]
"""

from __future__ import annotations

import argparse
import json
import os
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
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        from portal.devstack.config import embedded_redis_url

        # A broker database of its own, so that no other worker takes the bench's tasks.
        os.environ["REDIS_URL"] = embedded_redis_url(2)
    django_for_bench()

    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.db import transaction

    from knowledge.embeddings import get_backend
    from knowledge.ingestion.chunking import chunk_blocks
    from knowledge.ingestion.parsers import TEXT, parse
    from knowledge.ingestion.pipeline import embedding_text
    from knowledge.models import Chunk, Document, DocumentStatus
    from knowledge.services import collection_create, document_create

    tag = uuid.uuid4().hex[:6]
    documents = [(f"{title} [{tag}]", text) for title, text in corpus(args.documents)]
    texts = []
    for title, text in documents:
        blocks = parse(text.encode(), TEXT)
        drafts = chunk_blocks(blocks, max_tokens=settings.KNOWLEDGE_CHUNK_TOKENS,
                              overlap_tokens=settings.KNOWLEDGE_CHUNK_OVERLAP_TOKENS)  # fmt: skip
        texts.extend(embedding_text(title, d.heading_path, d.text) for d in drafts)
    print(f"{len(documents)} documents, {len(texts)} chunks")

    backend = get_backend()
    backend.embed(["warm up"])
    model = backend._model  # type: ignore[attr-defined]
    started = time.perf_counter()
    model.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE, normalize_embeddings=True)
    plain = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    backend.embed(texts)
    portal = len(texts) / (time.perf_counter() - started)

    # End to end through a real worker (it inherits the bench database and broker).
    env = dict(os.environ)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency=1",
         "--loglevel=WARNING", f"--hostname=bench-{tag}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(8)  # worker start-up and model load are not part of the measurement
        collection = collection_create(actor=None, slug=f"bench-ingest-{tag}",
                                       name=f"Bench ingest {tag}",
                                       read_roles=["admin"], manage_roles=["admin"])  # fmt: skip
        started = time.perf_counter()
        with transaction.atomic():
            ids = [
                document_create(actor=None, collection=collection, title=title,
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
    print("\n| measure | value |")
    print("| --- | ---: |")
    print(f"| plain sentence-transformers encode | {plain:.1f} chunks/s |")
    print(f"| portal embedding backend | {portal:.1f} chunks/s ({portal / plain:.2f}x plain) |")
    rate = chunks / elapsed
    print(f"| end to end through Celery (1 worker) | {ready / elapsed:.2f} documents/s, "
          f"{rate:.1f} chunks/s ({rate / plain:.2f}x plain encode) |")  # fmt: skip
    print(f"| documents ready / queued | {ready} / {len(ids)} |")


if __name__ == "__main__":
    main()
