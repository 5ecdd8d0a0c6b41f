"""How the assistant's stored records show to one viewer: conversation labels, messages with
their citations and cards, hand-off rows, and the source behind a citation.

Nothing here handles a request: the views fetch what the user may see and hand it over;
these functions decide what each row shows, checking again what *this* viewer may open
(a supervisor reading a handed-off conversation sees the asker's answers, but only the
documents, customers and drafts the supervisor may open are linked).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from assistant.models import Conversation, Feedback, Handoff, HandoffStatus, Message, MessageRole
from assistant.permissions import (
    can_escalate,
    can_give_feedback,
    can_post_to_conversation,
    handoffs_managed_by,
)
from assistant.selectors import conversation_list, conversation_messages
from assistant.services.answering import COMMAND_MODEL_NAME, EXTRACTIVE_MODEL_NAME
from forms_app.models import FormDefinition, SubmissionStatus
from forms_app.permissions import submissions_visible_to
from forms_app.selectors import definition_get
from knowledge.customers.selectors import customer_view, customers_visible_to
from knowledge.models import Chunk, Document
from knowledge.permissions import documents_visible_to
from knowledge.selectors import chunk_get, document_get
from portal.permissions import Action, can
from portal.types import AnyUser

MODEL_LABELS = {
    EXTRACTIVE_MODEL_NAME: "Extracted from the documents (no language model)",
    COMMAND_MODEL_NAME: "Command",
}
SIDEBAR_CONVERSATIONS = 8


# Conversations ---------------------------------------------------------------------------


def conversation_label(conversation: Conversation, first_question: str | None = None) -> str:
    """The title, else the start of the first question, else a number."""
    if conversation.title:
        return conversation.title
    if first_question:
        text = " ".join(first_question.split())
        return text if len(text) <= 80 else text[:79] + "…"
    return f"Conversation {conversation.pk}"


def labelled_conversations(conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
    """Each conversation with its label (untitled ones by their first question, one query)."""
    rows = list(conversations)
    untitled = [c.pk for c in rows if not c.title]
    first: dict[int, str] = {}
    if untitled:
        first = dict(
            Message.objects.filter(conversation_id__in=untitled, role=MessageRole.USER)
            .order_by("conversation_id", "created_at", "id")
            .distinct("conversation_id")
            .values_list("conversation_id", "content")
        )
    return [{"c": c, "label": conversation_label(c, first.get(c.pk))} for c in rows]


# Messages: what the viewer may open, citations, cards --------------------------------------


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or key


class _Viewer:
    """What one viewer may open among the objects the messages refer to (a query each)."""

    def __init__(self, user: AnyUser, messages: list[Message]) -> None:
        self.user = user
        documents: set[int] = set()
        customers: set[int] = set()
        submissions: set[int] = set()
        for message in messages:
            for citation in message.citations or []:
                if citation.get("type", "chunk") == "chunk" and citation.get("document_id"):
                    documents.add(int(citation["document_id"]))
                elif citation.get("type") == "customer" and citation.get("customer_id"):
                    customers.add(int(citation["customer_id"]))
            for card in message.cards or []:
                if card.get("type") in ("customer", "prefill") and card.get("customer_id"):
                    customers.add(int(card["customer_id"]))
                if card.get("type") == "prefill" and card.get("submission_id"):
                    submissions.add(int(card["submission_id"]))
        self.documents = self._ids(documents_visible_to(user), documents)
        self.customers = self._ids(customers_visible_to(user), customers)
        # The drafts' status now (a pre-filled draft may have been submitted since).
        self.submissions: dict[int, str] = (
            dict(
                submissions_visible_to(user).filter(pk__in=submissions).values_list("pk", "status")
            )
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
            except FormDefinition.DoesNotExist:
                self._labels[slug] = {}
            else:
                self._labels[slug] = {f.key: f.label for f in definition.fields.all()}
        return self._labels[slug]


def _citation_rows(viewer: _Viewer, message: Message) -> list[dict[str, Any]]:
    rows = []
    for citation in message.citations or []:
        number = citation.get("n")
        if not isinstance(number, int):
            continue
        preview_url = reverse("assistant:citation_preview", args=[message.pk, number])
        if citation.get("type") == "customer":
            customer_id = int(citation.get("customer_id") or 0)
            readable = customer_id in viewer.customers
            rows.append(
                {
                    "n": number,
                    "type": "customer",
                    "title": citation.get("title", "") if readable else "Customer record",
                    "readable": readable,
                    "url": reverse("customers:detail", args=[customer_id]) if readable else "",
                    "preview_url": preview_url,
                }
            )
            continue
        document_id = int(citation.get("document_id") or 0)
        readable = document_id in viewer.documents
        rows.append(
            {
                "n": number,
                "type": "chunk",
                "title": citation.get("title") or f"Document {document_id}",
                "version": citation.get("version"),
                "page": citation.get("page"),
                "readable": readable,
                "url": reverse("knowledge:document_detail", args=[document_id]) if readable else "",
                "preview_url": preview_url,
            }
        )
    return rows


def _card_rows(
    viewer: _Viewer, message: Message, handoffs: dict[int, Handoff]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for card in message.cards or []:
        kind = card.get("type")
        if kind == "prefill":
            labels = viewer.labels(str(card.get("form_slug", "")))

            def named(keys: Iterable[str], labels: dict[str, str] = labels) -> list[str]:
                return [labels.get(key) or _humanize(key) for key in keys or []]

            submission_id = int(card.get("submission_id") or 0)
            status = viewer.submissions.get(submission_id)
            visible = status is not None
            customer_visible = int(card.get("customer_id") or 0) in viewer.customers
            rows.append(
                {
                    "type": "prefill",
                    "form": card.get("form", ""),
                    "customer": card.get("customer", "") if customer_visible else "",
                    "submission_id": submission_id,
                    "url": reverse("forms_app:submission_detail", args=[submission_id])
                    if visible
                    else "",
                    "is_draft": status in (None, SubmissionStatus.DRAFT),
                    "status": SubmissionStatus(status).label if status else "",
                    "from_record": named(card.get("from_record", [])),
                    "from_conversation": named(card.get("from_conversation", [])),
                    "masked": named(card.get("masked", [])),
                    "dropped": list(card.get("dropped") or []),
                }
            )
        elif kind == "handoff":
            handoff = handoffs.get(int(card.get("handoff_id") or 0))
            rows.append(
                {
                    "type": "handoff",
                    "handoff_id": card.get("handoff_id"),
                    "handoff": handoff,
                    "status": handoff.get_status_display() if handoff else card.get("status", ""),
                    "reason": card.get("reason", ""),
                    "region": card.get("region", ""),
                }
            )
        elif kind == "customer":
            customer_id = int(card.get("customer_id") or 0)
            visible = customer_id in viewer.customers
            rows.append(
                {
                    "type": "customer",
                    "visible": visible,
                    "customer_number": card.get("customer_number", "") if visible else "",
                    "name": card.get("name", "") if visible else "",
                    "url": reverse("customers:detail", args=[customer_id]) if visible else "",
                }
            )
        elif kind == "notice":
            rows.append({"type": "notice", "text": card.get("text", "")})
    return rows


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
    """One message as the conversation page shows it (the script swaps it in)."""
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


# Pages -----------------------------------------------------------------------------------


def conversation_context(user: AnyUser, conversation: Conversation) -> dict[str, Any]:
    """The conversation page for ``user``: messages, hand-offs, customer and sidebar."""
    rows = message_rows(user, conversation, list(conversation_messages(user, conversation.pk)))
    handoffs = list(
        conversation.handoffs.select_related("assignee", "region", "created_by").order_by(
            "-created_at", "-id"
        )
    )
    submission_ids = {h.submission_id for h in handoffs if h.submission_id}
    visible_submissions = (
        set(submissions_visible_to(user).filter(pk__in=submission_ids).values_list("pk", flat=True))
        if submission_ids
        else set()
    )
    managed = set(
        handoffs_managed_by(user).filter(conversation=conversation).values_list("pk", flat=True)
    )
    open_handoff = next((h for h in handoffs if h.status != HandoffStatus.RESOLVED), None)
    read_only = not can_post_to_conversation(user, conversation)
    customer = conversation.customer
    first_question = next((r["m"].content for r in rows if r["is_user"]), "")
    sidebar: list[dict[str, Any]] = []
    if not read_only:
        sidebar = labelled_conversations(conversation_list(user)[:SIDEBAR_CONVERSATIONS])
    return {
        "conversation": conversation,
        "label": conversation_label(conversation, first_question),
        "rows": rows,
        "read_only": read_only,
        "can_ask": not read_only and can(user, Action.ASK_ASSISTANT),
        "can_escalate": can_escalate(user, conversation) and open_handoff is None,
        "handoffs": [
            {
                "h": h,
                "managed": h.pk in managed,
                "submission_visible": h.submission_id in visible_submissions,
            }
            for h in handoffs
        ],
        "customer": customer,
        "customer_visible": customer is not None
        and customers_visible_to(user).filter(pk=customer.pk).exists(),
        "sidebar": sidebar,
        "max_chars": settings.ASSISTANT_MAX_QUESTION_CHARS,
        "ask_text": "",
        "ask_error": "",
        "escalate_reason": "",
        "escalate_error": "",
    }


def handoff_queue_rows(user: AnyUser, handoffs: list[Handoff]) -> list[dict[str, Any]]:
    """Queue rows: each hand-off with whether ``user`` may open its customer and draft."""
    customer_ids = {h.customer_id for h in handoffs if h.customer_id}
    submission_ids = {h.submission_id for h in handoffs if h.submission_id}
    customers = set(
        customers_visible_to(user).filter(pk__in=customer_ids).values_list("pk", flat=True)
    )
    submissions = set(
        submissions_visible_to(user).filter(pk__in=submission_ids).values_list("pk", flat=True)
    )
    return [
        {
            "h": h,
            "customer_visible": h.customer_id in customers,
            "submission_visible": h.submission_id in submissions,
        }
        for h in handoffs
    ]


# The source behind a citation ------------------------------------------------------------


def _chunk_preview(user: AnyUser, citation: dict[str, Any]) -> dict[str, Any] | None:
    try:
        chunk = chunk_get(user, int(citation.get("chunk_id") or 0))
    except Chunk.DoesNotExist:
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
    # The passage is gone (the document was re-ingested): say so, if the document is
    # still readable; otherwise it answers like a missing one.
    try:
        document = document_get(user, int(citation.get("document_id") or 0))
    except Document.DoesNotExist:
        return None
    return {
        "kind": "replaced",
        "document": document,
        "url": reverse("knowledge:document_detail", args=[document.pk]),
    }


def _customer_preview(user: AnyUser, citation: dict[str, Any]) -> dict[str, Any] | None:
    row = customers_visible_to(user).filter(pk=int(citation.get("customer_id") or 0)).first()
    if row is None:
        return None
    return {
        "kind": "customer",
        "customer": customer_view(user, row),
        "url": reverse("customers:detail", args=[row.pk]),
    }


def source_preview(user: AnyUser, citation: dict[str, Any]) -> dict[str, Any] | None:
    """The source behind ``citation`` as ``user`` may read it now; None if they may not
    (or it is gone)."""
    if citation.get("type") == "customer":
        return _customer_preview(user, citation)
    return _chunk_preview(user, citation)
