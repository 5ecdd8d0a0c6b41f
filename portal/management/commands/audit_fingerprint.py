"""The fingerprint the audit trail keeps of a text (portal.audit), to look for it there."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from portal.audit import fingerprint


class Command(BaseCommand):
    help = (
        "Print the fingerprint the audit trail keeps of TEXT (a search query, a question, a "
        "comment: case and spacing do not matter), under SECRET_KEY and each of "
        "SECRET_KEY_FALLBACKS, to find the events whose details hold it, e.g. "
        'details @> \'{"query": {"fingerprint": "..."}}\'.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text")

    def handle(self, *args: Any, **options: Any) -> None:
        text = options["text"]
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        for number, secret in enumerate(secrets):
            label = "SECRET_KEY" if number == 0 else f"SECRET_KEY_FALLBACKS[{number - 1}]"
            self.stdout.write(f"{label}: {json.dumps(fingerprint(text, secret))}")
