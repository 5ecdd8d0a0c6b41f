"""Load a BEIR folder into a throw-away collection and score chunk_search on it."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import override_settings
from tqdm import tqdm

from knowledge.evaluation import documents_from_chunks, load_beir, ndcg_at_k, recall_at_k
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Collection
from knowledge.selectors import SearchMode, chunk_search
from knowledge.services import (
    EVALUATION_KEPT,
    collection_create,
    collection_delete,
    document_create,
    evaluation_leftovers_delete,
)
from portal.permissions import Role
from portal.services import region_ensure, user_ensure
from portal.types import AnyUser

CHUNKS_PER_QUERY = 100
MODES = [SearchMode.DENSE, SearchMode.KEYWORD, SearchMode.HYBRID]


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up, like Ctrl-C


class Command(BaseCommand):
    help = "Evaluate retrieval on a BEIR-layout folder: nDCG@10 and recall@10 per mode."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--mode", choices=["all", *[m.value for m in MODES]], default="all")
        parser.add_argument("--split", default="test")
        parser.add_argument("--limit-queries", type=int, default=0, help="Only the first N.")
        parser.add_argument(
            "--keep", action="store_true", help="Keep the collection (slug printed) for --reuse."
        )
        parser.add_argument("--reuse", default="", help="Slug of a collection kept by --keep.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = load_beir(options["folder"], options["split"])
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(str(error)) from error
        queries = list(data.queries.items())
        if options["limit_queries"]:
            queries = queries[: options["limit_queries"]]
        self.stdout.write(f"{len(data.corpus)} documents, {len(queries)} queries")
        host = socket.gethostname()
        for slug in evaluation_leftovers_delete(host=host):
            self.stderr.write(f"deleted the leftovers of an interrupted run: {slug}")
        tag = uuid.uuid4().hex[:8]
        reused = (
            Collection.objects.filter(slug=options["reuse"], evaluation_run=EVALUATION_KEPT).first()
            if options["reuse"]
            else None
        )
        if options["reuse"] and reused is None:
            raise CommandError(
                f"No collection {options['reuse']!r} kept by an evaluation (--keep) to reuse."
            )
        # Readable by the run's own user alone: an agent of a region of its own (a region
        # limits agents; compliance and admins, who see all regions, are not readers).
        region = (
            reused.read_regions.first()
            if reused is not None
            else region_ensure(code=f"eval-{tag}", name=f"Evaluation {tag}")
        )
        user, _ = user_ensure(
            username=f"eval-{tag}",
            password=uuid.uuid4().hex,
            roles=[Role.AGENT],
            regions=[region] if region else [],
        )
        collection: Collection | None = reused
        main = threading.current_thread() is threading.main_thread()
        # SIGTERM (a time limit, a kill) unwinds like Ctrl-C, through the clean-up below.
        previous = signal.signal(signal.SIGTERM, _terminated) if main else None
        try:
            if collection is None:
                collection = self._create(tag, region, f"{host}:{os.getpid()}")
                id_map = self._load(data, collection)
            else:
                id_map = self._ids(collection)
            modes = MODES if options["mode"] == "all" else [SearchMode(options["mode"])]
            lines = [self._score(user, collection, id_map, queries, data.qrels, m) for m in modes]
            for line in lines:
                self.stdout.write(line)
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
            self._clean_up(collection, region, user, keep=bool(options["keep"] or reused))

    def _clean_up(self, collection: Any, region: Any, user: Any, keep: bool) -> None:
        """Delete the run's collection (unless kept), region and user, whatever ended it:
        an error, Ctrl-C, SIGTERM."""
        if collection is not None and keep:
            Collection.objects.filter(pk=collection.pk).update(evaluation_run=EVALUATION_KEPT)
            self.stdout.write(f"kept collection {collection.slug}")
        elif collection is not None:
            collection_delete(actor=None, collection=collection)
        user.delete()
        if region is not None and not keep:
            region.delete()

    def _create(self, tag: str, region: Any, run: str) -> Collection:
        return collection_create(
            actor=None,
            slug=f"eval-{tag}",
            name=f"Evaluation {tag}",
            read_roles=[Role.AGENT.value],
            manage_roles=[],
            read_regions=[region],
            evaluation_run=run,
        )

    @staticmethod
    def _ids(collection: Collection) -> dict[int, str]:
        docs = collection.documents.values_list("pk", "source_url")
        return {pk: url.rsplit("/", 1)[-1] for pk, url in docs}

    def _load(self, data: Any, collection: Collection) -> dict[int, str]:
        id_map: dict[int, str] = {}
        started = time.perf_counter()
        with tqdm(total=len(data.corpus), desc="store", unit="doc") as bar:
            for start in range(0, len(data.corpus), 500):
                with transaction.atomic():
                    for doc in data.corpus[start : start + 500]:
                        document = document_create(
                            actor=None,
                            collection=collection,
                            title=doc.title or doc.doc_id,
                            # A title-only document is still a document.
                            file=ContentFile(
                                (doc.text or doc.title or doc.doc_id).encode(),
                                name=f"{doc.doc_id}.txt",
                            ),
                            source_url=f"https://beir.invalid/doc/{doc.doc_id}",
                            enqueue=False,
                        )
                        id_map[document.pk] = doc.doc_id
                bar.update(min(500, len(data.corpus) - start))
        with tqdm(total=len(id_map), desc="ingest", unit="doc") as bar:
            outcome = ingest(list(id_map), progress=bar.update)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"ingested {len(outcome.ready)} documents ({len(outcome.failed)} failed) "
            f"in {elapsed:.0f} s"
        )
        return id_map

    def _score(
        self,
        user: AnyUser,
        collection: Collection,
        id_map: dict[int, str],
        queries: list[tuple[str, str]],
        qrels: dict[str, dict[str, int]],
        mode: SearchMode,
    ) -> str:
        ndcgs, recalls, latencies = [], [], []
        for query_id, text in tqdm(queries, desc=mode.value, unit="q"):
            started = time.perf_counter()
            # Enough chunks that long documents (many chunks each) still fill the top 10.
            with override_settings(KNOWLEDGE_SEARCH_MAX_K=CHUNKS_PER_QUERY):
                result = chunk_search(
                    user, text, k=CHUNKS_PER_QUERY, collections=[collection.slug], mode=mode
                )
            latencies.append(time.perf_counter() - started)
            ranked = documents_from_chunks([id_map[hit.document_id] for hit in result.hits])
            ndcgs.append(ndcg_at_k(ranked, qrels[query_id], 10))
            recalls.append(recall_at_k(ranked, qrels[query_id], 10))
        self.stderr.write(
            f"{mode.value}: median latency {statistics.median(latencies) * 1000:.1f} ms"
        )
        return (
            f"nDCG@10={statistics.fmean(ndcgs):.4f} "
            f"recall@10={statistics.fmean(recalls):.4f} mode={mode.value}"
        )
