"""Shared set-up for the benchmarks: a database of their own on the embedded server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_DATABASE: another database for another corpus size (each keeps its own corpus).
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "portal_bench")
sys.path.insert(0, str(ROOT))  # run as `python bench/<name>.py` from anywhere


def django_for_bench() -> None:
    """Point Django at the bench database (created and migrated when missing)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    if not os.environ.get("DATABASE_URL"):
        from portal.devstack.__main__ import start_services
        from portal.devstack.config import HOST, postgres_port
        from portal.devstack.services import EmbeddedPostgres

        start_services()
        EmbeddedPostgres.default().ensure_database(BENCH_DATABASE)
        os.environ["DATABASE_URL"] = (
            f"postgres://postgres@{HOST}:{postgres_port()}/{BENCH_DATABASE}"
        )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
