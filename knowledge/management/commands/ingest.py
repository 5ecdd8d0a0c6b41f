"""Bulk-load files into a collection, with a progress bar."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledge.ingestion.parsers import EXTENSIONS
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Collection, Document, DocumentStatus
from knowledge.services import document_create, document_replace_file


class Command(BaseCommand):
    help = (
        "Ingest a file or every supported file under a folder into a collection. "
        "Files already there (same title) get a new version when their content changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--collection", required=True, help="Collection slug.")
        parser.add_argument(
            "--queue", action="store_true", help="Leave the work to the Celery workers."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        collection = Collection.objects.filter(slug=options["collection"]).first()
        if collection is None:
            raise CommandError(f"No collection with slug {options['collection']!r}.")
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
        )  # fmt: skip
        if not files:
            raise CommandError(f"No supported files under {path}.")
        ids: list[int] = []
        unchanged = 0
        for file_path in tqdm(files, desc="store", unit="file"):
            ids_or_none = self._store(collection, file_path, enqueue=options["queue"])
            if ids_or_none is None:
                unchanged += 1
            else:
                ids.append(ids_or_none)
        if options["queue"]:
            self.stdout.write(f"{len(ids)} queued, {unchanged} unchanged.")
            return
        with tqdm(total=len(ids), desc="ingest", unit="doc") as bar:
            # Its own documents, even if a worker's batching run took some along meanwhile.
            outcome = ingest(ids, progress=bar.update, owned=ids)
        failed = dict(outcome.failed)
        failed.update(
            dict(
                Document.objects.filter(pk__in=ids, status=DocumentStatus.FAILED)
                .exclude(pk__in=list(failed))
                .values_list("pk", "error")
            )
        )
        for document_id, error in failed.items():
            self.stderr.write(f"  failed: document {document_id}: {error}")
        self.stdout.write(
            f"{len(outcome.ready)} ready, {len(failed)} failed, {unchanged} unchanged."
        )

    def _store(self, collection: Collection, path: Path, enqueue: bool) -> int | None:
        title = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
        existing = Document.objects.filter(collection=collection, title=title).first()
        with path.open("rb") as handle:
            upload = File(handle, name=path.name)
            if existing is None:
                return document_create(
                    actor=None, collection=collection, title=title, file=upload, enqueue=enqueue
                ).pk
            if existing.sha256 == hashlib.sha256(path.read_bytes()).hexdigest():
                return None
            if existing.archived_at is not None:
                # No new version of an archived document (restore it first): left as it is.
                self.stderr.write(f"  skipped: {path} changed, but “{title}” is archived.")
                return None
            return document_replace_file(
                actor=None, document=existing, file=upload, enqueue=enqueue
            ).pk
