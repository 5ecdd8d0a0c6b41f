"""What one viewer is shown of stored messages: the one place that decides it, for the
conversation page, its fragments and the API alike.

The asker sees their conversation as it was answered. Anyone else who may read it (a
supervisor of the hand-off's queue) sees it as *they* may:

- an answer that drew on a source the reader may not read is hidden (``REDACTED_NOTE``
  instead of its text, no citations, no tool calls, no notices): a passage of a collection
  they may not read, or a customer record outside their regions or seen by the asker with a
  sensitive field (tax id, date of birth, account number) the reader sees less fully;
- citations are listed only when the reader may open them;
- customer cards show the customer as the reader sees it now (``knowledge.customers``
  selectors: region and field masks), or nothing; a draft's customer and link likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.db.models import QuerySet

from assistant.answering.types import (
    SENSITIVE_FIELDS,
    Card,
    ChunkCitation,
    Citation,
    CustomerCard,
    CustomerCitation,
    PrefillCard,
    ToolCallRecord,
)
from assistant.models import Conversation, Message, MessageRole
from forms_app.permissions import submissions_visible_to
from knowledge.customers.selectors import CustomerView, customer_view, customers_visible_to
from knowledge.permissions import documents_visible_to, visible_collection_ids
from knowledge.selectors import chunk_collection_ids
from portal.permissions import field_visibility
from portal.types import AnyUser
from portal.validation import parse_id

if TYPE_CHECKING:
    from forms_app.models import FormSubmission
    from knowledge.customers.models import Customer

REDACTED_NOTE = "This answer drew on sources you may not read; it is hidden."
_LEVEL = {"hidden": 0, "masked": 1, "full": 2}


def stored_citations(message: Message) -> list[Citation]:
    return cast("list[Citation]", message.citations or [])


def stored_cards(message: Message) -> list[Card]:
    return cast("list[Card]", message.cards or [])


def _as_id(value: Any) -> int:
    """A stored id (an int, or ASCII digits); anything else reads as 0, which nothing has."""
    return parse_id(value) or 0


def _record_customers(message: Message) -> list[dict[str, Any]]:
    return [
        record
        for record in message.source_record_ids or []
        if isinstance(record, dict) and record.get("type") == "customer"
    ]


def _referenced(messages: list[Message]) -> tuple[set[int], set[int], set[int]]:
    """The documents, customers and submissions the messages refer to."""
    documents: set[int] = set()
    customers: set[int] = set()
    submissions: set[int] = set()
    for message in messages:
        for citation in stored_citations(message):
            if citation.get("type") == "customer":
                customers.add(_as_id(cast(CustomerCitation, citation).get("customer_id")))
            else:
                documents.add(_as_id(cast(ChunkCitation, citation).get("document_id")))
        for card in stored_cards(message):
            if card.get("type") in ("customer", "prefill"):
                customers.add(_as_id(cast(CustomerCard | PrefillCard, card).get("customer_id")))
            if card.get("type") == "prefill":
                submissions.add(_as_id(cast(PrefillCard, card).get("submission_id")))
        customers |= {_as_id(record.get("id")) for record in _record_customers(message)}
    return documents - {0}, customers - {0}, submissions - {0}


class Viewer:
    """What one viewer may open among the objects the messages refer to (a query each)."""

    def __init__(self, user: AnyUser, conversation: Conversation, messages: list[Message]) -> None:
        self.user = user
        self.conversation = conversation
        self.is_asker = bool(user.is_authenticated and conversation.owner_id == user.pk)
        documents, customers, submissions = _referenced(messages)
        self.documents = self._ids(documents_visible_to(user), documents)
        self.customers: dict[int, Customer] = (
            {row.pk: row for row in customers_visible_to(user).filter(pk__in=customers)}
            if customers
            else {}
        )
        # The drafts as they are now (a pre-filled draft may have been submitted since).
        self.submissions: dict[int, FormSubmission] = (
            {
                row.pk: row
                for row in submissions_visible_to(user).filter(pk__in=submissions).only("status")
            }
            if submissions
            else {}
        )
        self._fields = {name: field_visibility(user, name) for name in SENSITIVE_FIELDS}
        self._asker_fields: dict[str, str] | None = None
        self._collections: set[int] | None = None
        self._customer_views: dict[int, CustomerView] = {}

    @staticmethod
    def _ids(queryset: QuerySet[Any], wanted: set[int]) -> set[int]:
        if not wanted:
            return set()
        return set(queryset.filter(pk__in=wanted).values_list("pk", flat=True))

    def customer(self, customer_id: int) -> CustomerView | None:
        """The customer as the viewer sees it now (masked for them); None if they may not."""
        row = self.customers.get(customer_id)
        if row is None:
            return None
        if customer_id not in self._customer_views:
            self._customer_views[customer_id] = customer_view(self.user, row)
        return self._customer_views[customer_id]

    def _collections_readable(self) -> set[int]:
        if self._collections is None:
            self._collections = set(visible_collection_ids(self.user))
        return self._collections

    def _asker_visibility(self) -> dict[str, str]:
        """How the asker sees the sensitive fields now: for records stored without it."""
        if self._asker_fields is None:
            owner = self.conversation.owner
            self._asker_fields = {name: field_visibility(owner, name) for name in SENSITIVE_FIELDS}
        return self._asker_fields

    def _sees_as_fully(self, seen: dict[str, str]) -> bool:
        return all(
            _LEVEL.get(self._fields[name], 0) >= _LEVEL.get(str(seen.get(name, "full")), 2)
            for name in SENSITIVE_FIELDS
        )

    def _may_read_passages(self, message: Message) -> bool:
        collections = {_as_id(pk) for pk in message.source_collection_ids or []}
        if collections:
            return collections <= self._collections_readable()
        chunk_ids = {_as_id(pk) for pk in message.source_chunk_ids or []}
        if not chunk_ids:
            return True
        # Stored before the collections were: the passages as they are now; a passage that
        # is gone cannot be checked, so it counts as unreadable.
        return len(chunk_collection_ids(self.user, list(chunk_ids))) == len(chunk_ids)

    def may_read_sources(self, message: Message) -> bool:
        """Whether the viewer may read everything ``message`` was written from."""
        if self.is_asker:
            return True
        if not self._may_read_passages(message):
            return False
        for record in _record_customers(message):
            if _as_id(record.get("id")) not in self.customers:
                return False
            seen = record.get("visibility")
            if not isinstance(seen, dict):  # stored before it was noted
                seen = self._asker_visibility()
            if not self._sees_as_fully(seen):
                return False
        for card in stored_cards(message):
            if card.get("type") in ("customer", "prefill"):
                customer_id = _as_id(cast(CustomerCard | PrefillCard, card).get("customer_id"))
                if customer_id not in self.customers:
                    return False
        return True

    def may_open(self, citation: Citation) -> bool:
        if citation.get("type") == "customer":
            return _as_id(cast(CustomerCitation, citation).get("customer_id")) in self.customers
        return _as_id(cast(ChunkCitation, citation).get("document_id")) in self.documents


@dataclass(frozen=True)
class ShownMessage:
    """One message as one viewer is shown it (the page, its fragments, the API)."""

    content: str  # Markdown
    content_html: str  # sanitized HTML; empty for questions
    redacted: bool
    citations: list[Citation]  # as stored, those the viewer is shown
    cards: list[dict[str, Any]]  # the cards as the viewer may see them (shapes below)
    tool_calls: list[ToolCallRecord]


def _customer_card(viewer: Viewer, card: CustomerCard) -> dict[str, Any]:
    view = viewer.customer(_as_id(card.get("customer_id")))
    if view is None:
        return {
            "type": "customer",
            "visible": False,
            "customer_id": None,
            "customer_number": "",
            "name": "",
            "tax_id": None,
            "date_of_birth": None,
        }
    return {
        "type": "customer",
        "visible": True,
        "customer_id": view.id,
        "customer_number": view.customer_number,
        "name": view.full_name,
        "tax_id": view.tax_id,
        "date_of_birth": view.date_of_birth,
    }


def _prefill_card(viewer: Viewer, card: PrefillCard) -> dict[str, Any]:
    visible = _as_id(card.get("customer_id")) in viewer.customers
    opened = _as_id(card.get("submission_id")) in viewer.submissions
    return {
        **card,
        "customer": card.get("customer", "") if visible else "",
        "customer_id": card.get("customer_id") if visible else None,
        "url": card.get("url", "") if opened else "",
    }


def _cards(viewer: Viewer, message: Message, *, redacted: bool) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    for card in stored_cards(message):
        kind = card.get("type")
        if kind == "customer":
            shown.append(_customer_card(viewer, cast(CustomerCard, card)))
        elif kind == "prefill":
            shown.append(_prefill_card(viewer, cast(PrefillCard, card)))
        elif kind == "handoff" or (kind == "notice" and not redacted):
            shown.append(dict(card))
    return shown


def _shown(viewer: Viewer, message: Message) -> ShownMessage:
    if message.role != MessageRole.ASSISTANT:
        return ShownMessage(message.content, message.content_html, False, [], [], [])
    if not viewer.may_read_sources(message):
        return ShownMessage(
            content=REDACTED_NOTE,
            content_html=f"<p>{REDACTED_NOTE}</p>",
            redacted=True,
            citations=[],
            cards=_cards(viewer, message, redacted=True),
            tool_calls=[],
        )
    citations = stored_citations(message)
    if not viewer.is_asker:
        citations = [c for c in citations if viewer.may_open(c)]
    return ShownMessage(
        content=message.content,
        content_html=message.content_html,
        redacted=False,
        citations=list(citations),
        cards=_cards(viewer, message, redacted=False),
        tool_calls=cast("list[ToolCallRecord]", list(message.tool_calls or [])),
    )


def messages_shown(
    user: AnyUser,
    conversation: Conversation,
    messages: list[Message],
    *,
    viewer: Viewer | None = None,
) -> dict[int, ShownMessage]:
    """Each message of ``conversation`` (by id) as ``user`` is shown it."""
    viewer = viewer or Viewer(user, conversation, messages)
    return {message.pk: _shown(viewer, message) for message in messages}
