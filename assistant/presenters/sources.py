"""The source behind a citation, as the viewer may read it now: the passage (flagged when
the document changed since), a note that it was replaced or archived, or the customer
record."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse

from assistant.answering.types import ChunkCitation, Citation, CustomerCitation
from knowledge.customers.selectors import customer_view, customers_visible_to
from knowledge.selectors import chunk_get, document_get
from portal.types import AnyUser


def _chunk_preview(user: AnyUser, citation: ChunkCitation) -> dict[str, Any] | None:
    try:
        chunk = chunk_get(user, int(citation.get("chunk_id") or 0))
    except ObjectDoesNotExist:
        chunk = None
    if chunk is not None and chunk.document_id == citation.get("document_id"):
        url = reverse("knowledge:document_detail", args=[chunk.document_id])
        return {
            "kind": "chunk",
            "chunk": chunk,
            "document": chunk.document,
            "changed": chunk.version != citation.get("version"),
            "url": f"{url}#chunk-{chunk.ordinal}",
        }
    # The passage is gone (the document was re-ingested) or out of search (archived; only
    # those who manage the collection still open the document): say so, if the document is
    # still readable; otherwise (deleted, or not readable) it answers like a missing one.
    try:
        document = document_get(user, int(citation.get("document_id") or 0))
    except ObjectDoesNotExist:
        return None
    return {
        "kind": "archived" if document.archived_at else "replaced",
        "document": document,
        "url": reverse("knowledge:document_detail", args=[document.pk]),
    }


def _customer_preview(user: AnyUser, citation: CustomerCitation) -> dict[str, Any] | None:
    row = customers_visible_to(user).filter(pk=int(citation.get("customer_id") or 0)).first()
    if row is None:
        return None
    return {
        "kind": "customer",
        "customer": customer_view(user, row),
        "url": reverse("customers:detail", args=[row.pk]),
    }


def source_preview(user: AnyUser, citation: Citation) -> dict[str, Any] | None:
    """The source behind ``citation`` as ``user`` may read it now; None when they may not
    (or it is gone), which the page answers like a missing one."""
    if citation.get("type") == "customer":
        return _customer_preview(user, cast(CustomerCitation, citation))
    return _chunk_preview(user, cast(ChunkCitation, citation))
