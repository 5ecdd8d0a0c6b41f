"""Fit a collection's hybrid-search weight from its golden questions (knowledge.fusion)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import Collection
from knowledge.services import collection_fusion_fit, collection_fusion_reset


class Command(BaseCommand):
    help = "Fit the dense weight of hybrid search for a collection from its golden questions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("collection", help="The collection's slug.")
        parser.add_argument("--reset", action="store_true", help="Back to the default weight.")

    def handle(self, *args: Any, **options: Any) -> None:
        collection = Collection.objects.filter(slug=options["collection"]).first()
        if collection is None:
            raise CommandError(f"No collection {options['collection']!r}.")
        if options["reset"]:
            collection_fusion_reset(actor=None, collection=collection)
            self.stdout.write(f"{collection.slug}: back to the default weight")
            return
        try:
            fit = collection_fusion_fit(actor=None, collection=collection)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        collection.refresh_from_db()
        figures = collection.fusion_fit
        self.stdout.write(
            f"{collection.slug}: dense weight {fit.dense_weight:.2f} from {fit.questions} golden "
            f"questions; nDCG@10 dense {figures['dense']:.4f}, keyword {figures['keyword']:.4f}, "
            f"hybrid default {figures['hybrid_default']:.4f}, hybrid fitted {fit.best:.4f}"
        )
