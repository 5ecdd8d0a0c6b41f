"""Import golden questions into a collection from JSON Lines or CSV (all or nothing)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import Collection
from knowledge.services import golden_questions_import


def read_rows(path: Path) -> list[dict[str, Any]]:
    """``.jsonl``: ``{"question": ..., "documents": [id or source URL, ...]}`` per line;
    ``.csv``: columns ``question`` and ``documents`` (separated by ``;``)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or "question" not in reader.fieldnames:
            raise CommandError("The CSV needs a header row with columns question,documents.")
        rows: list[dict[str, Any]] = []
        for row in reader:
            documents = (row.get("documents") or "").split(";")
            rows.append(
                {
                    "question": row.get("question") or "",
                    "documents": [d for d in documents if d.strip()],
                    "line": reader.line_num,
                }
            )
        return rows
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise CommandError(f"line {number}: not JSON ({error.msg})") from error
        rows.append({**row, "line": number} if isinstance(row, dict) else {"line": number})
    return rows


class Command(BaseCommand):
    help = "Import golden questions (question + expected documents) into a collection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("collection", help="The collection's slug.")
        parser.add_argument("file", type=Path, help=".jsonl or .csv")

    def handle(self, *args: Any, **options: Any) -> None:
        collection = Collection.objects.filter(slug=options["collection"]).first()
        if collection is None:
            raise CommandError(f"No collection {options['collection']!r}.")
        try:
            rows = read_rows(options["file"])
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}") from error
        try:
            created, updated = golden_questions_import(actor=None, collection=collection, rows=rows)
        except ValidationError as error:
            raise CommandError("Nothing imported:\n" + "\n".join(error.messages)) from error
        self.stdout.write(f"{created} golden questions added, {updated} updated")
