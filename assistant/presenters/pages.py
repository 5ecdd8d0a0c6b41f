"""The assistant's pages as one viewer sees them: conversation labels, the conversation page
(messages, hand-offs, customer, sidebar) and the rows of the hand-off queue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from assistant.models import Conversation, Handoff, HandoffStatus, Message, MessageRole
from assistant.permissions import can_escalate, can_post_to_conversation, handoffs_managed_by
from assistant.presenters.messages import message_rows
from assistant.selectors import conversation_list, conversation_messages
from forms_app.permissions import submissions_visible_to
from knowledge.customers.selectors import customers_visible_to
from portal.permissions import Action, can
from portal.types import AnyUser

SIDEBAR_CONVERSATIONS = 8


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


def _visible_submission_ids(user: AnyUser, handoffs: list[Handoff]) -> set[int]:
    wanted = {h.submission_id for h in handoffs if h.submission_id}
    if not wanted:
        return set()
    return set(submissions_visible_to(user).filter(pk__in=wanted).values_list("pk", flat=True))


def conversation_context(user: AnyUser, conversation: Conversation) -> dict[str, Any]:
    """The conversation page for ``user``: messages, hand-offs, customer and sidebar."""
    rows = message_rows(user, conversation, list(conversation_messages(user, conversation.pk)))
    handoffs = list(
        conversation.handoffs.select_related("assignee", "region", "created_by").order_by(
            "-created_at", "-id"
        )
    )
    visible_submissions = _visible_submission_ids(user, handoffs)
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
    customers = set(
        customers_visible_to(user).filter(pk__in=customer_ids).values_list("pk", flat=True)
    )
    submissions = _visible_submission_ids(user, handoffs)
    return [
        {
            "h": h,
            "customer_visible": h.customer_id in customers,
            "submission_visible": h.submission_id in submissions,
        }
        for h in handoffs
    ]
