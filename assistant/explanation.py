"""Explain an answer (compliance, ``supervise_answers``): its question, the sources exactly
as the model read them, what it returned, the citations kept and removed, and whether
today's search would still find the same sources (docs/records.md, "Explain this answer").

What the page shows stays within the viewer's own rights: a source's text only when the
viewer may read it today (the collection; the customer, with each sensitive field at least
as visible as it was to the asker), and the answer's text only when every source is shown
(an answer can quote its sources). Otherwise the ids and hashes are shown, and why not the
text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied

from assistant.answering.lineage import prompt_version
from assistant.models import Message, MessageRole
from assistant.presenters.shown import Viewer
from knowledge.customers.selectors import customers_visible_to
from knowledge.selectors import chunk_collection_ids, chunk_search, documents_live_versions
from portal.crypto import ERASED
from portal.permissions import Action, can, field_visibility
from portal.services import audit_event_record
from portal.types import AnyUser

_LEVEL = {"hidden": 0, "masked": 1, "full": 2}


@dataclass
class SourceRow:
    n: int
    kind: str
    ids: dict[str, Any]
    sha256: str
    cited: bool
    text: str | None  # None: withheld (``withheld`` says why)
    withheld: str = ""
    intact: bool = True  # the kept text still hashes to the recorded hash
    today: str = ""  # what became of the source since


@dataclass
class Explanation:
    message: Message
    question: str
    asker: str
    lineage: dict[str, Any]
    sources: list[SourceRow]
    answer_shown: bool
    prompt_current: bool
    search_today: str
    found_again: list[int] = field(default_factory=list)


def _question_of(message: Message) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id, role=MessageRole.USER, pk__lt=message.pk
        )
        .order_by("-pk")
        .first()
    )


def _customer_readable(viewer: AnyUser, record: dict[str, Any]) -> str:
    """Why ``viewer`` may not read a customer record the asker was given ('' if they may)."""
    customer_id = record.get("id")
    if customer_id is None or not customers_visible_to(viewer).filter(pk=customer_id).exists():
        return "a customer you may not see"
    for name, level in (record.get("visibility") or {}).items():
        if _LEVEL.get(field_visibility(viewer, name), 0) < _LEVEL.get(level, 2):
            return f"the asker saw the field {name} more fully than you may"
    return ""


def answer_explain(viewer: AnyUser, message_id: int) -> Explanation:
    """The explanation of assistant message ``message_id`` (``Message.DoesNotExist`` when
    there is none); audited as ``assistant.answer_explained``."""
    if not can(viewer, Action.SUPERVISE_ANSWERS):
        raise PermissionDenied("Only who supervises the assistant explains answers.")
    message = Message.objects.select_related("conversation__owner").get(
        pk=message_id, role=MessageRole.ASSISTANT
    )
    lineage = message.lineage or {}
    texts = {item["n"]: item["text"] for item in message.source_texts or []}
    kept = set((lineage.get("citations") or {}).get("kept", []))
    chunk_ids = [s["chunk_id"] for s in lineage.get("sources", []) if s.get("chunk_id")]
    readable_chunks = chunk_collection_ids(viewer, chunk_ids)
    live = documents_live_versions(
        [s["document_id"] for s in lineage.get("sources", []) if s.get("document_id")]
    )
    records = {r["id"]: r for r in message.source_record_ids or [] if isinstance(r, dict)}
    rows = []
    for source in lineage.get("sources", []):
        n, text = source["n"], texts.get(source["n"])
        ids = {
            k: v
            for k, v in source.items()
            if k in ("chunk_id", "document_id", "version", "dense_weight")
        }
        withheld, today = "", ""
        if source["kind"] == "chunk":
            if source.get("chunk_id") not in readable_chunks:
                withheld = "its collection is not one you may read"
            version = live.get(source.get("document_id"))
            if version is None:
                today = "the document has been deleted"
            elif version != source.get("version"):
                today = f"the document now answers with version {version}"
            else:
                today = "unchanged"
        else:
            ids = {"customer_id": source.get("customer_id")}
            withheld = _customer_readable(viewer, records.get(source.get("customer_id"), {}))
        intact = text is not None and (
            hashlib.sha256(text.encode("utf-8")).hexdigest() == source.get("sha256")
        )
        rows.append(
            SourceRow(
                n=n,
                kind=source["kind"],
                ids=ids,
                sha256=source.get("sha256", ""),
                cited=n in kept,
                text=None if withheld else text,
                withheld=withheld,
                intact=intact,
                today=today,
            )
        )
    question = _question_of(message)
    asker = message.conversation.owner
    search_today, found_again = _search_today(asker, question.content if question else "", rows)
    explanation = Explanation(
        message=message,
        question=question.content if question else "",
        asker=asker.get_username(),
        lineage=lineage,
        sources=rows,
        # Everything it was written from (passages, records, cards; also for answers
        # stored before lineage existed) must be readable by the viewer.
        answer_shown=all(not row.withheld for row in rows)
        and Viewer(viewer, message.conversation, [message]).may_read_sources(message),
        prompt_current=lineage.get("prompt_version") == prompt_version(),
        search_today=search_today,
        found_again=found_again,
    )
    audit_event_record(
        action="assistant.answer_explained",
        actor=viewer,
        target=message,
        details={"conversation_id": message.conversation_id, "asker": asker.get_username()},
    )
    return explanation


def _search_today(asker: Any, question: str, rows: list[SourceRow]) -> tuple[str, list[int]]:
    """Run the answer's search again, as the asker with their rights of today."""
    chunk_rows = [row for row in rows if row.kind == "chunk"]
    if question == ERASED:
        return "the question was erased with a customer's personal data", []
    if not question or not chunk_rows:
        return "no document sources to look for", []
    if not asker.is_active:
        return "the asker's account is deactivated: their search finds nothing today", []
    try:
        result = chunk_search(asker, question, k=settings.ASSISTANT_MAX_SOURCES, audit=False)
    except Exception as failure:  # the search itself failed (model, database): say so
        return f"today's search could not run ({type(failure).__name__})", []
    found = {hit.chunk_id for hit in result.hits}
    again = [row.n for row in chunk_rows if row.ids.get("chunk_id") in found]
    return f"{len(again)} of {len(chunk_rows)} document sources found again", again
