"""Stored messages as one viewer sees them, as rows for the templates: what the viewer is
shown (``assistant.presenters.shown``, shared with the API), citations and cards linking
only to what the viewer may open now; a pre-filled draft shows its status now (it may have
been submitted since)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse

from assistant.answering.types import (
    COMMAND_MODEL_NAME,
    EXTRACTIVE_MODEL_NAME,
    ChunkCitation,
    Citation,
    CustomerCitation,
)
from assistant.models import Conversation, Feedback, Handoff, Message, MessageRole
from assistant.permissions import can_give_feedback, can_post_to_conversation
from assistant.presenters.shown import ShownMessage, Viewer, messages_shown
from forms_app.selectors import definition_get
from knowledge.selectors import documents_withdrawn
from portal.types import AnyUser

MODEL_LABELS = {
    EXTRACTIVE_MODEL_NAME: "Extracted from the documents (no language model)",
    COMMAND_MODEL_NAME: "Command",
}
DRAFT = "draft"  # a submission's status until it is submitted (forms_app's SubmissionStatus)


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or key


class _Labels:
    """Field labels of forms (keys read as words when the viewer may not fill the form)."""

    def __init__(self, user: AnyUser) -> None:
        self.user = user
        self._labels: dict[str, dict[str, str]] = {}

    def __call__(self, slug: str) -> dict[str, str]:
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
    viewer: Viewer, citation: CustomerCitation, preview_url: str
) -> dict[str, Any]:
    customer_id = int(citation.get("customer_id") or 0)
    readable = viewer.may_open(citation)
    return {
        "n": citation["n"],
        "type": "customer",
        "title": citation.get("title", "") if readable else "Customer record",
        "readable": readable,
        "url": reverse("customers:detail", args=[customer_id]) if readable else "",
        "preview_url": preview_url,
    }


def _chunk_citation_row(
    viewer: Viewer, citation: ChunkCitation, preview_url: str, withdrawn: dict[int, str]
) -> dict[str, Any]:
    document_id = int(citation.get("document_id") or 0)
    readable = viewer.may_open(citation)
    return {
        "n": citation["n"],
        "type": "chunk",
        "title": citation.get("title") or f"Document {document_id}",
        "version": citation.get("version"),
        "page": citation.get("page"),
        "readable": readable,
        # Why it no longer opens: "deleted", "archived", or "" (not available to the viewer).
        "withdrawn": "" if readable else withdrawn.get(document_id, ""),
        "url": reverse("knowledge:document_detail", args=[document_id]) if readable else "",
        "preview_url": preview_url,
    }


def _withdrawn(viewer: Viewer, citations: list[Citation]) -> dict[int, str]:
    """Documents of the citations the viewer cannot open that were deleted or archived since
    (one query, only when there are such citations)."""
    closed = [
        int(cast(ChunkCitation, citation).get("document_id") or 0)
        for citation in citations
        if citation.get("type") != "customer" and not viewer.may_open(citation)
    ]
    return documents_withdrawn(viewer.user, closed) if closed else {}


def _citation_rows(
    viewer: Viewer, message: Message, citations: list[Citation]
) -> list[dict[str, Any]]:
    rows = []
    withdrawn = _withdrawn(viewer, citations)
    for citation in citations:
        number = citation.get("n")
        if not isinstance(number, int):
            continue
        preview_url = reverse("assistant:citation_preview", args=[message.pk, number])
        if citation.get("type") == "customer":
            customer = cast(CustomerCitation, citation)
            rows.append(_customer_citation_row(viewer, customer, preview_url))
        else:
            chunk = cast(ChunkCitation, citation)
            rows.append(_chunk_citation_row(viewer, chunk, preview_url, withdrawn))
    return rows


# Cards (as ``shown`` gives them: already what the viewer may see) ------------------------


def _prefill_row(viewer: Viewer, labels: _Labels, card: dict[str, Any]) -> dict[str, Any]:
    form_labels = labels(str(card.get("form_slug", "")))

    def named(keys: Iterable[str]) -> list[str]:
        return [form_labels.get(key) or _humanize(key) for key in keys or []]

    submission_id = int(card.get("submission_id") or 0)
    submission = viewer.submissions.get(submission_id)
    return {
        "type": "prefill",
        "form": card.get("form", ""),
        "customer": card.get("customer", ""),
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


def _handoff_row(card: dict[str, Any], handoffs: dict[int, Handoff]) -> dict[str, Any]:
    handoff = handoffs.get(int(card.get("handoff_id") or 0))
    return {
        "type": "handoff",
        "handoff_id": card.get("handoff_id"),
        "handoff": handoff,
        "status": handoff.get_status_display() if handoff else card.get("status", ""),
        "reason": card.get("reason", ""),
        "region": card.get("region", ""),
    }


def _customer_row(card: dict[str, Any]) -> dict[str, Any]:
    visible = bool(card.get("visible"))
    return {
        **card,
        "url": reverse("customers:detail", args=[card["customer_id"]]) if visible else "",
    }


def _card_rows(
    viewer: Viewer, labels: _Labels, cards: list[dict[str, Any]], handoffs: dict[int, Handoff]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for card in cards:
        kind = card.get("type")
        if kind == "prefill":
            rows.append(_prefill_row(viewer, labels, card))
        elif kind == "handoff":
            rows.append(_handoff_row(card, handoffs))
        elif kind == "customer":
            rows.append(_customer_row(card))
        elif kind == "notice":
            rows.append({"type": "notice", "text": card.get("text", "")})
    return rows


# Messages --------------------------------------------------------------------------------


def _answer_row(
    viewer: Viewer,
    labels: _Labels,
    message: Message,
    shown: ShownMessage,
    handoffs: dict[int, Handoff],
) -> dict[str, Any]:
    return {
        "m": message,
        "is_user": False,
        "content_html": shown.content_html,
        "redacted": shown.redacted,
        "model_label": MODEL_LABELS.get(message.model_name, message.model_name),
        "citations": _citation_rows(viewer, message, shown.citations),
        "cards": _card_rows(viewer, labels, shown.cards, handoffs),
        "tools": shown.tool_calls,
    }


def message_rows(
    user: AnyUser,
    conversation: Conversation,
    messages: list[Message],
    *,
    question_before: str = "",
) -> list[dict[str, Any]]:
    """How each message shows for ``user``: what they are shown of it (``shown``), its
    citations and cards as rows, and the feedback they gave.

    ``question_before`` is the question asked before the first message (for a fragment
    holding one answer), so that a failed answer can offer to ask it again."""
    viewer = Viewer(user, conversation, messages)
    shown = messages_shown(user, conversation, messages, viewer=viewer)
    labels = _Labels(user)
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
        row = _answer_row(viewer, labels, message, shown[message.pk], handoffs)
        row.update(
            question=question,
            feedback=given.get(message.pk),
            can_feedback=can_give_feedback(user, message),
        )
        rows.append(row)
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
