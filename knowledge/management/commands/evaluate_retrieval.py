"""Load a BEIR folder into a throw-away collection and score chunk_search on it."""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from knowledge import fusion
from knowledge.evaluation import documents_from_chunks, load_beir, ndcg_at_k, recall_at_k
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Chunk, Collection
from knowledge.selectors import (
    SearchMode,
    candidate_pool,
    collection_ids_readable,
    golden_examples,
    search_sides,
)
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

MODES = ["dense", "keyword", "hybrid", "hybrid-rrf", "hybrid-fitted"]
SEED = 20231  # fixed: the same folds and draws on every run


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up, like Ctrl-C


class Command(BaseCommand):
    help = "Evaluate retrieval on a BEIR-layout folder: nDCG@10 and recall@10 per mode."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path, nargs="?")
        parser.add_argument(
            "--collection",
            default="",
            help="Instead of a BEIR folder: score a collection on its own golden questions.",
        )
        parser.add_argument("--mode", choices=["all", *MODES], default="all")
        parser.add_argument(
            "--golden",
            type=int,
            default=20,
            help="Also fit the fusion on this many questions (golden questions) and score "
            "the others (0: not).",
        )
        parser.add_argument("--draws", type=int, default=10, help="Random draws for --golden.")
        parser.add_argument("--split", default="test")
        parser.add_argument("--limit-queries", type=int, default=0, help="Only the first N.")
        parser.add_argument(
            "--keep", action="store_true", help="Keep the collection (slug printed) for --reuse."
        )
        parser.add_argument("--reuse", default="", help="Slug of a collection kept by --keep.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["collection"]:
            self._golden(options["collection"])
            return
        if options["folder"] is None:
            raise CommandError("Name a BEIR folder, or a collection with --collection.")
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
            lines = self._score(user, collection, id_map, queries, data.qrels, options)
            for line in lines:
                if options["mode"] == "all" or f"mode={options['mode']} " in f"{line} ":
                    self.stdout.write(line)
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
            self._clean_up(collection, region, user, keep=bool(options["keep"] or reused))

    def _golden(self, slug: str) -> None:
        collection = Collection.objects.filter(slug=slug, evaluation_run="").first()
        if collection is None:
            raise CommandError(f"No collection {slug!r}.")
        examples = golden_examples(collection)
        self.stdout.write(f"{len(examples)} golden questions with expected documents")
        if not examples:
            raise CommandError("Add golden questions (the admin, or import_golden_questions).")
        weight = collection.fusion_weight
        for line in report(examples, golden=0, draws=0, weight=weight):
            self.stdout.write(line)
        if weight is None:
            self.stdout.write("hybrid uses the default weight: manage.py fit_fusion to fit one")

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
        options: dict[str, Any],
    ) -> list[str]:
        """Both sides' candidates once per query (as the run's user reads them), then every
        fusion scored on them."""
        readable = collection_ids_readable(user, [collection.slug])
        examples, latencies = [], []
        for query_id, text in tqdm(queries, desc="search", unit="q"):
            started = time.perf_counter()
            sides = search_sides(text, readable, SearchMode.HYBRID, candidate_pool(10))
            latencies.append(time.perf_counter() - started)
            chunk_ids = {c for c, _ in sides.dense} | {c for c, _ in sides.keyword}
            documents = Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "document_id")
            examples.append(
                fusion.Example(
                    dense=sides.dense,
                    keyword=sides.keyword,
                    relevant=qrels[query_id],
                    document_of={pk: id_map[doc] for pk, doc in documents if doc in id_map},
                )
            )
        self.stderr.write(
            f"median search latency (both sides) {statistics.median(latencies) * 1000:.1f} ms"
        )
        return report(examples, options["golden"], options["draws"])


def _scores(examples: Sequence[fusion.Example], ranking: Any) -> tuple[float, float]:
    """Mean nDCG@10 and recall@10 of ``ranking`` (example -> fused chunks)."""
    ndcgs, recalls = [], []
    for example in examples:
        fused = ranking(example)
        ranked = documents_from_chunks(
            [example.document_of[c] for c, _ in fused if c in example.document_of]
        )
        ndcgs.append(ndcg_at_k(ranked, example.relevant, 10))
        recalls.append(recall_at_k(ranked, example.relevant, 10))
    return statistics.fmean(ndcgs), statistics.fmean(recalls)


def _format(mode: str, scores: tuple[float, float], note: str = "") -> str:
    return (
        f"nDCG@10={scores[0]:.4f} recall@10={scores[1]:.4f} "
        f"mode={mode}{f' ({note})' if note else ''}"
    )


def _line(mode: str, examples: Sequence[fusion.Example], ranking: Any, note: str = "") -> str:
    return _format(mode, _scores(examples, ranking), note)


def _weighted(weight: float) -> Any:
    return lambda e: fusion.convex(e.dense, e.keyword, lambda _: weight)


def report(
    examples: list[fusion.Example], golden: int, draws: int, weight: float | None = None
) -> list[str]:
    """One line per mode: each side alone, reciprocal rank fusion, the convex fusion with
    ``weight`` (default: KNOWLEDGE_FUSION_DENSE_WEIGHT), with a weight fitted by two-fold
    cross-validation, and with weights fitted on ``golden`` questions (``draws`` random
    draws, scored on the other questions, median)."""
    default = settings.KNOWLEDGE_FUSION_DENSE_WEIGHT
    lines = [
        _line("dense", examples, lambda e: e.dense),
        _line("keyword", examples, lambda e: e.keyword),
        _line(
            "hybrid-rrf",
            examples,
            lambda e: fusion.rrf([e.dense, e.keyword], settings.KNOWLEDGE_RRF_K),
        ),
        _line(
            "hybrid",
            examples,
            _weighted(default if weight is None else weight),
            f"dense weight {default if weight is None else weight:.2f}",
        ),
    ]
    shuffled = list(examples)
    random.Random(SEED).shuffle(shuffled)  # noqa: S311 (folds, not secrets)
    halves = [shuffled[::2], shuffled[1::2]]
    fits = [fusion.fit_dense_weight(half, default) for half in halves]
    if all(fits):
        scored: list[tuple[fusion.Example, float]] = []
        for fit, other in zip(fits, reversed(halves), strict=True):
            assert fit is not None
            scored += [(e, fit.dense_weight) for e in other]
        fold_weights = " / ".join(f"{fit.dense_weight:.2f}" for fit in fits if fit)
        by_example = {id(e): w for e, w in scored}
        lines.append(
            _line(
                "hybrid-fitted",
                [e for e, _ in scored],
                lambda e: fusion.convex(e.dense, e.keyword, lambda _: by_example[id(e)]),
                f"2-fold cross-validation, dense weights {fold_weights}",
            )
        )
    if draws > 0 and golden and len(examples) > golden >= fusion.MIN_GOLDEN_QUESTIONS:
        generator = random.Random(SEED)  # noqa: S311 (draws, not secrets)
        results: list[tuple[tuple[float, float], float]] = []
        for _ in range(draws):
            chosen = set(generator.sample(range(len(examples)), golden))
            fit = fusion.fit_dense_weight([examples[i] for i in sorted(chosen)], default)
            assert fit is not None
            rest = [e for i, e in enumerate(examples) if i not in chosen]
            results.append((_scores(rest, _weighted(fit.dense_weight)), fit.dense_weight))
        results.sort()
        weights = sorted(w for _, w in results)
        lines.append(
            _format(
                f"hybrid-golden-{golden}",
                results[len(results) // 2][0],
                f"median of {draws} draws of {golden} golden questions, scored on the "
                f"others; dense weights {weights[0]:.2f}-{weights[-1]:.2f}",
            )
        )
    return lines
