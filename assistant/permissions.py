"""Who may see which conversations and hand-offs: SQL filters over portal.permissions.

A conversation is the owner's; a supervisor (manage_handoffs) of the hand-off's queue may
also read a conversation that was handed off, and act on that hand-off. Only the owner may
post to a conversation.

A hand-off's queue is its region; a hand-off without a region is the **central queue**, which
head-office supervisors work: a supervisor (manage_handoffs) with no region, or one who sees
all regions (see_all_regions); never every regional supervisor. How a handed-off
conversation shows to its reader (answers drawing on sources the reader may not read are
hidden) is ``assistant.presenters``.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from assistant.models import Conversation, Handoff, HandoffStatus, Message
from portal.permissions import Action, can, region_ids_of
from portal.types import AnyUser

CENTRAL_QUEUE = "Central queue"  # how a hand-off without a region is named


def queue_name(handoff: Handoff) -> str:
    """The queue a hand-off is in: its region's name, or the central queue."""
    return handoff.region.name if handoff.region is not None else CENTRAL_QUEUE


def _queue_filter(user: AnyUser) -> Q:
    """SQL filter of the hand-offs in the queue of a ``manage_handoffs`` user: those of their
    regions; the central queue without a region; every queue, the central one included, with
    see_all_regions. Unlike ``region_filter``, a hand-off without a region is never a
    regional supervisor's."""
    if can(user, Action.SEE_ALL_REGIONS):
        return Q()
    regions = region_ids_of(user)
    return Q(region_id__in=regions) if regions else Q(region__isnull=True)


def handoffs_managed_by(user: AnyUser) -> QuerySet[Handoff]:
    """Hand-offs in the queue of ``user``: a supervisor's regions, the central queue for a
    supervisor without one (all queues with see_all_regions)."""
    if not can(user, Action.MANAGE_HANDOFFS):
        return Handoff.objects.none()
    return Handoff.objects.filter(_queue_filter(user))


def handoffs_visible_to(user: AnyUser) -> QuerySet[Handoff]:
    """Hand-offs ``user`` may read: those of their own conversations and their queue."""
    if user is None or not user.is_authenticated:
        return Handoff.objects.none()
    own = Q(conversation__owner_id=user.pk)
    if can(user, Action.MANAGE_HANDOFFS):
        return Handoff.objects.filter(own | _queue_filter(user))
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
