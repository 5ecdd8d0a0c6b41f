"""Who may see which conversations and hand-offs: SQL filters over portal.permissions.

A conversation is the owner's; a supervisor (manage_handoffs) of the hand-off's region may
also read a conversation that was handed off, and act on that hand-off. Only the owner may
post to a conversation.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from assistant.models import Conversation, Handoff, HandoffStatus, Message
from portal.permissions import Action, can, region_filter
from portal.types import AnyUser


def handoffs_managed_by(user: AnyUser) -> QuerySet[Handoff]:
    """Hand-offs in the queue of ``user``: a supervisor's regions (all with see_all_regions)."""
    if not can(user, Action.MANAGE_HANDOFFS):
        return Handoff.objects.none()
    return Handoff.objects.filter(region_filter(user, "region"))


def handoffs_visible_to(user: AnyUser) -> QuerySet[Handoff]:
    """Hand-offs ``user`` may read: those of their own conversations and their queue."""
    if user is None or not user.is_authenticated:
        return Handoff.objects.none()
    own = Q(conversation__owner_id=user.pk)
    if can(user, Action.MANAGE_HANDOFFS):
        return Handoff.objects.filter(own | region_filter(user, "region"))
    return Handoff.objects.filter(own)


def conversations_visible_to(user: AnyUser) -> QuerySet[Conversation]:
    """Conversations ``user`` may read: their own, plus those handed off to their queue."""
    if user is None or not user.is_authenticated:
        return Conversation.objects.none()
    own = Q(owner_id=user.pk)
    if can(user, Action.MANAGE_HANDOFFS):
        handed_off = handoffs_managed_by(user).filter(conversation_id=OuterRef("pk"))
        return Conversation.objects.filter(own | Q(Exists(handed_off)))
    return Conversation.objects.filter(own)


def can_post_to_conversation(user: AnyUser | None, conversation: Conversation) -> bool:
    return bool(user is not None and user.is_authenticated and conversation.owner_id == user.pk)


def can_give_feedback(user: AnyUser, message: Message) -> bool:
    """Feedback is the asker's: on an assistant message of their own conversation."""
    return bool(
        message.role == "assistant" and can_post_to_conversation(user, message.conversation)
    )


def can_escalate(user: AnyUser, conversation: Conversation) -> bool:
    return can(user, Action.ASK_ASSISTANT) and can_post_to_conversation(user, conversation)


def can_assign_handoff(user: AnyUser, handoff: Handoff) -> bool:
    return (
        handoff.status != HandoffStatus.RESOLVED
        and handoffs_managed_by(user).filter(pk=handoff.pk).exists()
    )


def can_resolve_handoff(user: AnyUser, handoff: Handoff) -> bool:
    return can_assign_handoff(user, handoff)
