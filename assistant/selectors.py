"""Reads of the assistant app, always starting from what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from assistant.models import Conversation, Message
from assistant.permissions import conversations_visible_to


def conversation_list(user: Any) -> QuerySet[Conversation]:
    """The user's visible conversations, most recently active first."""
    return conversations_visible_to(user).order_by("-updated_at", "-id")


def conversation_get(user: Any, conversation_id: int) -> Conversation:
    """One visible conversation; a forbidden one raises DoesNotExist like a missing one."""
    return conversations_visible_to(user).get(pk=conversation_id)


def conversation_messages(user: Any, conversation_id: int) -> QuerySet[Message]:
    """The messages of one visible conversation, oldest first."""
    return Message.objects.filter(
        conversation__in=conversations_visible_to(user), conversation_id=conversation_id
    ).order_by("created_at", "id")
