"""Check the configured file storage (STORAGE_BACKEND): there, writable, private."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.storage import file_storage_status


class Command(BaseCommand):
    help = (
        "Check that the file storage of STORAGE_BACKEND (local disk, an Azure container, an "
        "S3 bucket) is there and private; --create makes a missing Azure container (private)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--create", action="store_true", help="Create a missing container.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = file_storage_status(create=options["create"])
        except ImproperlyConfigured as problem:
            raise CommandError(str(problem)) from problem
        if not status["ok"]:
            raise CommandError(f"The {status['backend']} file storage is not writable.")
        self.stdout.write(self.style.SUCCESS(f"File storage ({status['backend']}): ready."))
