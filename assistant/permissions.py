"""Who may see which conversations: SQL filters, built on portal.permissions' users.

For now a conversation is visible to its owner only; supervisors' access to handed-off
conversations comes with the hand-off queue.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from assistant.models import Conversation


def conversations_visible_to(user: Any) -> QuerySet[Conversation]:
    """Conversations ``user`` may read: their own."""
    if user is None or not user.is_authenticated:
        return Conversation.objects.none()
    return Conversation.objects.filter(owner_id=user.pk)


def can_post_to_conversation(user: Any, conversation: Conversation) -> bool:
    return bool(user is not None and user.is_authenticated and conversation.owner_id == user.pk)
