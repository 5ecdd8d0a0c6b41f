"""One unique canary word per demo collection, and who may find which."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# role -> the collections whose canary it must find (and no other).
EXPECTED: dict[str, set[str]] = {
    "agent": {"products-fees", "fraud-disputes", "customer-help"},
    "supervisor": {"products-fees", "fraud-disputes", "customer-help"},
    "compliance": {"products-fees", "fraud-disputes", "compliance-aml", "customer-help"},
    # manages fraud-disputes
    "content_manager": {"products-fees", "fraud-disputes", "customer-help"},
    "admin": {"products-fees", "internal-hr", "customer-help"},
    "integration": set(),
}


def canary_word(slug: str) -> str:
    return f"zq{slug.replace('-', '')}canary"


def add_canaries(collections: dict[str, Any], add_document: Callable[..., Any]) -> dict[str, Any]:
    """A ready document per collection, titled ``Canary <slug>``; returns them by slug."""
    return {
        slug: add_document(
            collection, f"Canary {slug}", f"{canary_word(slug)} text about fees", name="canary.txt"
        )
        for slug, collection in collections.items()
    }
