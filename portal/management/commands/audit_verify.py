from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.audit_chain import seq_range, verify


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed, but no such day or time
        parsed = None
    if parsed is None:
        raise CommandError(f"Not a date or time: {value!r} (e.g. 2026-11-30 or 2026-11-30T12:00Z).")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain (and its anchors) and report the first broken "
        "link; exit status 1 when the chain is broken. docs/records.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="Events created from (date or time).")
        parser.add_argument("--to", dest="end", help="Events created up to (date or time).")

    def handle(self, *args: Any, **options: Any) -> None:
        first = last = None
        if options["start"] or options["end"]:
            first, last = seq_range(_when(options["start"]), _when(options["end"]))
            if first is None:
                self.stdout.write("No sealed event in that period.")
                return
        result = verify(first=first, last=last)
        rate = result.checked / result.seconds if result.seconds else 0
        self.stdout.write(
            f"Checked {result.checked} events (seq {result.first_seq} to {result.last_seq}) and "
            f"{result.anchors_checked} anchors in {result.seconds:.2f} s ({rate:,.0f} events/s); "
            f"head {result.head_hash}"
        )
        if result.ok:
            self.stdout.write("The chain is intact.")
            return
        for item in result.breaks:
            where = f"seq {item.seq}" if item.seq else "unsealed"
            event = f" (event id {item.event_id})" if item.event_id else ""
            self.stdout.write(f"BROKEN at {where}{event}: {item.problem}: {item.detail}")
        raise CommandError("The audit chain is broken.", returncode=1)
