"""Stored messages as one viewer sees them: citations and cards link only to what the viewer
may open now; a pre-filled draft shows its status now (it may have been submitted since)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.urls import reverse

from assistant.answering.types import (
    COMMAND_MODEL_NAME,
    EXTRACTIVE_MODEL_NAME,
    Card,
    ChunkCitation,
    Citation,
    CustomerCard,
    CustomerCitation,
    HandoffCard,
    NoticeCard,
    PrefillCard,
)
from assistant.models import Conversation, Feedback, Handoff, Message, MessageRole
from assistant.permissions import can_give_feedback, can_post_to_conversation
from forms_app.permissions import submissions_visible_to
from forms_app.selectors import definition_get
from knowledge.customers.selectors import customers_visible_to
from knowledge.permissions import documents_visible_to
from portal.types import AnyUser

if TYPE_CHECKING:
    from forms_app.models import FormSubmission

MODEL_LABELS = {
    EXTRACTIVE_MODEL_NAME: "Extracted from the documents (no language model)",
    COMMAND_MODEL_NAME: "Command",
}
DRAFT = "draft"  # a submission's status until it is submitted (forms_app's SubmissionStatus)


def _citations(message: Message) -> list[Citation]:
    return cast("list[Citation]", message.citations or [])


def _cards(message: Message) -> list[Card]:
    return cast("list[Card]", message.cards or [])


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or key


def _referenced(messages: list[Message]) -> tuple[set[int], set[int], set[int]]:
    """The documents, customers and submissions the messages' citations and cards name."""
    documents: set[int] = set()
    customers: set[int] = set()
    submissions: set[int] = set()
    for message in messages:
        for citation in _citations(message):
            source = citation.get("type", "chunk")
            if source == "chunk" and (document := cast(ChunkCitation, citation).get("document_id")):
                documents.add(int(document))
            elif source == "customer" and (
                customer := cast(CustomerCitation, citation).get("customer_id")
            ):
                customers.add(int(customer))
        for card in _cards(message):
            kind = card.get("type")
            if kind in ("customer", "prefill") and (
                customer := cast(CustomerCard | PrefillCard, card).get("customer_id")
            ):
                customers.add(int(customer))
            if kind == "prefill" and (submission := cast(PrefillCard, card).get("submission_id")):
                submissions.add(int(submission))
    return documents, customers, submissions


class _Viewer:
    """What one viewer may open among the objects the messages refer to (a query each)."""

    def __init__(self, user: AnyUser, messages: list[Message]) -> None:
        self.user = user
        documents, customers, submissions = _referenced(messages)
        self.documents = self._ids(documents_visible_to(user), documents)
        self.customers = self._ids(customers_visible_to(user), customers)
        # The drafts as they are now (a pre-filled draft may have been submitted since).
        self.submissions: dict[int, FormSubmission] = (
            {
                row.pk: row
                for row in submissions_visible_to(user).filter(pk__in=submissions).only("status")
            }
            if submissions
            else {}
        )
        self._labels: dict[str, dict[str, str]] = {}

    @staticmethod
    def _ids(queryset: QuerySet[Any], wanted: set[int]) -> set[int]:
        if not wanted:
            return set()
        return set(queryset.filter(pk__in=wanted).values_list("pk", flat=True))

    def labels(self, slug: str) -> dict[str, str]:
        """Field labels of a form (keys read as words when the viewer may not fill it)."""
        if slug not in self._labels:
            try:
                definition = definition_get(self.user, slug)
            except ObjectDoesNotExist:
                self._labels[slug] = {}
            else:
                self._labels[slug] = {f.key: f.label for f in definition.fields.all()}
        return self._labels[slug]


# Citations -------------------------------------------------------------------------------


def _customer_citation_row(
    viewer: _Viewer, citation: CustomerCitation, preview_url: str
) -> dict[str, Any]:
    customer_id = int(citation.get("customer_id") or 0)
    readable = customer_id in viewer.customers
    return {
        "n": citation["n"],
        "type": "customer",
        "title": citation.get("title", "") if readable else "Customer record",
        "readable": readable,
        "url": reverse("customers:detail", args=[customer_id]) if readable else "",
        "preview_url": preview_url,
    }


def _chunk_citation_row(
    viewer: _Viewer, citation: ChunkCitation, preview_url: str
) -> dict[str, Any]:
    document_id = int(citation.get("document_id") or 0)
    readable = document_id in viewer.documents
    return {
        "n": citation["n"],
        "type": "chunk",
        "title": citation.get("title") or f"Document {document_id}",
        "version": citation.get("version"),
        "page": citation.get("page"),
        "readable": readable,
        "url": reverse("knowledge:document_detail", args=[document_id]) if readable else "",
        "preview_url": preview_url,
    }


def _citation_rows(viewer: _Viewer, message: Message) -> list[dict[str, Any]]:
    rows = []
    for citation in _citations(message):
        number = citation.get("n")
        if not isinstance(number, int):
            continue
        preview_url = reverse("assistant:citation_preview", args=[message.pk, number])
        if citation.get("type") == "customer":
            customer = cast(CustomerCitation, citation)
            rows.append(_customer_citation_row(viewer, customer, preview_url))
        else:
            rows.append(_chunk_citation_row(viewer, cast(ChunkCitation, citation), preview_url))
    return rows


# Cards -----------------------------------------------------------------------------------


def _prefill_row(viewer: _Viewer, card: PrefillCard) -> dict[str, Any]:
    labels = viewer.labels(str(card.get("form_slug", "")))

    def named(keys: Iterable[str]) -> list[str]:
        return [labels.get(key) or _humanize(key) for key in keys or []]

    submission_id = int(card.get("submission_id") or 0)
    submission = viewer.submissions.get(submission_id)
    customer_visible = int(card.get("customer_id") or 0) in viewer.customers
    return {
        "type": "prefill",
        "form": card.get("form", ""),
        "customer": card.get("customer", "") if customer_visible else "",
        "submission_id": submission_id,
        "url": reverse("forms_app:submission_detail", args=[submission_id])
        if submission is not None
        else "",
        "is_draft": submission is None or submission.status == DRAFT,
        "status": submission.get_status_display() if submission is not None else "",
        "from_record": named(card.get("from_record", [])),
        "from_conversation": named(card.get("from_conversation", [])),
        "masked": named(card.get("masked", [])),
        "dropped": list(card.get("dropped") or []),
    }


def _handoff_row(card: HandoffCard, handoffs: dict[int, Handoff]) -> dict[str, Any]:
    handoff = handoffs.get(int(card.get("handoff_id") or 0))
    return {
        "type": "handoff",
        "handoff_id": card.get("handoff_id"),
        "handoff": handoff,
        "status": handoff.get_status_display() if handoff else card.get("status", ""),
        "reason": card.get("reason", ""),
        "region": card.get("region", ""),
    }


def _customer_row(viewer: _Viewer, card: CustomerCard) -> dict[str, Any]:
    customer_id = int(card.get("customer_id") or 0)
    visible = customer_id in viewer.customers
    return {
        "type": "customer",
        "visible": visible,
        "customer_number": card.get("customer_number", "") if visible else "",
        "name": card.get("name", "") if visible else "",
        "url": reverse("customers:detail", args=[customer_id]) if visible else "",
    }


def _card_rows(
    viewer: _Viewer, message: Message, handoffs: dict[int, Handoff]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for card in _cards(message):
        kind = card.get("type")
        if kind == "prefill":
            rows.append(_prefill_row(viewer, cast(PrefillCard, card)))
        elif kind == "handoff":
            rows.append(_handoff_row(cast(HandoffCard, card), handoffs))
        elif kind == "customer":
            rows.append(_customer_row(viewer, cast(CustomerCard, card)))
        elif kind == "notice":
            rows.append({"type": "notice", "text": cast(NoticeCard, card).get("text", "")})
    return rows


# Messages --------------------------------------------------------------------------------


def message_rows(
    user: AnyUser,
    conversation: Conversation,
    messages: list[Message],
    *,
    question_before: str = "",
) -> list[dict[str, Any]]:
    """How each message shows for ``user``: citations, cards and the feedback they gave.

    ``question_before`` is the question asked before the first message (for a fragment
    holding one answer), so that a failed answer can offer to ask it again."""
    viewer = _Viewer(user, messages)
    handoffs = {h.pk: h for h in conversation.handoffs.select_related("assignee")}
    given: dict[int, Feedback] = {}
    if user.is_authenticated:
        given = {
            f.message_id: f
            for f in Feedback.objects.filter(user_id=user.pk, message__in=[m.pk for m in messages])
        }
    rows = []
    question = question_before
    for message in messages:
        message.conversation = conversation  # already checked; saves a query each
        if message.role == MessageRole.USER:
            question = message.content
            rows.append({"m": message, "is_user": True})
            continue
        rows.append(
            {
                "m": message,
                "is_user": False,
                "question": question,
                "model_label": MODEL_LABELS.get(message.model_name, message.model_name),
                "citations": _citation_rows(viewer, message),
                "cards": _card_rows(viewer, message, handoffs),
                "tools": list(message.tool_calls or []),
                "feedback": given.get(message.pk),
                "can_feedback": can_give_feedback(user, message),
            }
        )
    return rows


def _question_before(message: Message) -> str:
    if message.role != MessageRole.ASSISTANT:
        return ""
    previous = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            role=MessageRole.USER,
            created_at__lte=message.created_at,
        )
        .order_by("-created_at", "-id")
        .values_list("content", flat=True)
        .first()
    )
    return previous or ""


def message_fragment_context(
    user: AnyUser, conversation: Conversation, message: Message
) -> dict[str, Any]:
    """One message as the conversation page shows it (the page's script swaps it in)."""
    rows = message_rows(user, conversation, [message], question_before=_question_before(message))
    return {
        "row": rows[0],
        "conversation": conversation,
        "read_only": not can_post_to_conversation(user, conversation),
    }


def answer_payload(message: Message) -> dict[str, Any]:
    """The ``done`` event of the chat page's stream: the stored answer, and where its
    fragment (as the page shows it) is."""
    return {
        "message_id": message.pk,
        "html": message.content_html,
        "citations": message.citations,
        "cards": message.cards,
        "error": message.error,
        "model": message.model_name,
        "fragment_url": reverse("assistant:message_fragment", args=[message.pk]),
    }
