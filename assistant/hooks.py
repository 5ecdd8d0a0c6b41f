"""The assistant in the portal shell: navigation and the dashboard's assistant panels."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from assistant.models import HandoffStatus
from assistant.presenters import labelled_conversations
from assistant.selectors import (
    CONVERSATION_COLUMNS,
    conversation_list,
    conversation_records,
    handoff_held_submissions,
    handoff_queue,
    handoffs_open_count,
)
from assistant.services.conversations import (
    ERASURE_CLASSES,
    conversations_erase,
    conversations_erasure_blockers,
    conversations_expired,
    conversations_purge,
)
from assistant.services.handoffs import handoffs_return_of_leaver
from portal.permissions import Action
from portal.registry import (
    DASHBOARD,
    AuditLink,
    DeactivationStep,
    ErasureStep,
    HoldExpansion,
    MenuItem,
    Panel,
    RecordSource,
    RetentionClass,
    register_audit_link,
    register_deactivation_step,
    register_erasure_step,
    register_hold_expansion,
    register_menu_item,
    register_panel,
    register_record_source,
    register_retention_class,
)

RECENT_CONVERSATIONS = 5
OLDEST_HANDOFFS = 5


def register() -> None:
    register_deactivation_step(DeactivationStep("assistant.handoffs", handoffs_return_of_leaver))
    register_hold_expansion(HoldExpansion("assistant.handoffs", handoff_held_submissions))
    register_erasure_step(
        ErasureStep(
            "assistant.conversations",
            conversations_erasure_blockers,
            conversations_erase,
            ERASURE_CLASSES,
            order=10,
        )
    )
    register_retention_class(
        RetentionClass(
            "conversations",
            "Conversations with their messages, feedback and hand-offs",
            conversations_purge,
            lambda cutoff, holds: conversations_expired(cutoff, holds).count(),
            ("conversation", "user", "customer"),
            order=10,
        )
    )
    register_audit_link(
        AuditLink(
            "assistant.answer",
            "Explain",
            lambda event: reverse("assistant:answer_explain", args=[event.target_id]),
            Action.SUPERVISE_ANSWERS,
        )
    )
    register_record_source(
        RecordSource(
            "conversations",
            "Conversations with their answers and sources",
            CONVERSATION_COLUMNS,
            conversation_records,
            order=10,
        )
    )
    register_menu_item(
        MenuItem(
            "Assistant",
            "assistant:chat",
            Action.ASK_ASSISTANT,
            order=10,
            description="Ask questions answered from company documents, with sources.",
        )
    )
    register_menu_item(
        MenuItem(
            "Hand-offs",
            "assistant:handoff_queue",
            Action.MANAGE_HANDOFFS,
            order=70,
            description="Conversations handed to a supervisor of your regions.",
        )
    )
    register_panel(
        Panel(
            "assistant.handoffs",
            DASHBOARD,
            "assistant/_dashboard_handoffs.html",
            _oldest_handoffs,
            Action.MANAGE_HANDOFFS,
            order=10,
        )
    )
    register_panel(
        Panel(
            "assistant.conversations",
            DASHBOARD,
            "assistant/_dashboard_conversations.html",
            _recent_conversations,
            Action.ASK_ASSISTANT,
            order=20,
        )
    )


def _oldest_handoffs(request: HttpRequest) -> dict[str, Any]:
    """The open hand-offs of the supervisor's regions, oldest first."""
    queue = handoff_queue(request.user).filter(status=HandoffStatus.OPEN)
    return {
        "open_handoffs_count": handoffs_open_count(request.user),
        "oldest_handoffs": list(queue[:OLDEST_HANDOFFS]),
    }


def _recent_conversations(request: HttpRequest) -> dict[str, Any]:
    return {
        "recent_conversations": labelled_conversations(
            conversation_list(request.user)[:RECENT_CONVERSATIONS]
        )
    }
