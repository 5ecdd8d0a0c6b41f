"""Import customers from a CSV file (UTF-8, header row); idempotent by customer_number."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.customers.services import CUSTOMER_COLUMNS, REQUIRED_COLUMNS, customer_upsert


class Command(BaseCommand):
    help = (
        "Import customers from CSV. Columns: "
        + ", ".join(CUSTOMER_COLUMNS)
        + f" (required: {', '.join(REQUIRED_COLUMNS)}; region is a region code, "
        "date_of_birth YYYY-MM-DD). Existing customer numbers are updated. Rows with errors "
        "are reported (line, field, message) and skipped; the exit status is 1 if any failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        created = updated = failed = 0
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in REQUIRED_COLUMNS if name not in header]
            if missing:
                raise CommandError(f"Missing column(s): {', '.join(missing)}.")
            unknown = [name for name in header if name not in CUSTOMER_COLUMNS]
            if unknown:
                self.stderr.write(f"Ignoring unknown column(s): {', '.join(unknown)}")
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                data = {key: value for key, value in row.items() if key in CUSTOMER_COLUMNS}
                try:
                    _, was_created = customer_upsert(
                        actor=None, data=data, source=f"import_customers:{path.name}"
                    )
                except ValidationError as error:
                    failed += 1
                    details = error.message_dict if hasattr(error, "error_dict") else {}
                    for field, messages in details.items() or [("row", error.messages)]:
                        for message in messages:
                            self.stderr.write(f"line {line}: {field}: {message}")
                    continue
                if was_created:
                    created += 1
                else:
                    updated += 1
        self.stdout.write(f"{created} created, {updated} updated, {failed} failed")
        if failed:
            raise CommandError(f"{failed} row(s) failed; the other rows were imported.")
