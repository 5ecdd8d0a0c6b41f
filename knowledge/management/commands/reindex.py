"""Re-embed documents after a settings change (e.g. a new embedding model)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from knowledge.ingestion.pipeline import ingest
from knowledge.models import Document, DocumentStatus
from knowledge.selectors import documents_needing_reindex


class Command(BaseCommand):
    help = "Re-index documents whose chunks were embedded with another model (or --all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Every ready document.")
        parser.add_argument("--collection", default="", help="Only this collection (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        documents = (
            Document.objects.filter(status=DocumentStatus.READY)
            if options["all"]
            else documents_needing_reindex()
        )
        if options["collection"]:
            documents = documents.filter(collection__slug=options["collection"])
        ids = list(documents.values_list("pk", flat=True))
        if not ids:
            self.stdout.write("Nothing to re-index.")
            return
        with tqdm(total=len(ids), desc="reindex", unit="doc") as bar:
            outcome = ingest(ids, force=True, progress=bar.update)
        self.stdout.write(f"{len(outcome.ready)} re-indexed, {len(outcome.failed)} failed.")
