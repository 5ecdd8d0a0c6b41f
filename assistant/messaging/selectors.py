"""Reads of secure threads, always as a given user (``assistant.messaging.permissions``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from assistant.messaging.models import (
    Draft,
    DraftStatus,
    MessageAttachment,
    SampleReview,
    SecureMessage,
    Thread,
    ThreadStatus,
)
from assistant.messaging.permissions import (
    customer_side,
    handles_threads,
    messages_visible_to,
    threads_visible_to,
)
from portal.permissions import Action, can
from portal.types import AnyUser

AGE_FILTERS = {"1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7)}


def thread_list(
    user: AnyUser,
    *,
    status: str = "",
    category: str = "",
    waiting_longer_than: str = "",
    assigned: str = "",
    review: str = "",
) -> QuerySet[Thread]:
    """Threads ``user`` sees, newest activity first, with the number of messages of the
    other side not read yet (``unread``); filters as the inbox offers them."""
    threads = threads_visible_to(user).select_related("customer", "region", "assignee")
    if status in ThreadStatus.values:
        threads = threads.filter(status=status)
    elif status == "active":
        threads = threads.exclude(status=ThreadStatus.CLOSED)
    if category:
        threads = threads.filter(category=category)
    if waiting_longer_than in AGE_FILTERS:
        threads = threads.filter(
            waiting_since__lte=timezone.now() - AGE_FILTERS[waiting_longer_than]
        )
    if assigned == "me" and user.is_authenticated:
        threads = threads.filter(assignee_id=user.pk)
    elif assigned == "nobody":
        threads = threads.filter(assignee__isnull=True)
    if review == "pending":  # automatic replies waiting for a supervisor's review
        threads = threads.filter(
            pk__in=SecureMessage.objects.filter(review=SampleReview.PENDING).values("thread_id")
        )
    unread = Q(messages__read_at__isnull=True, messages__retracted_at__isnull=True) & Q(
        messages__internal=False
    )
    unread &= Q(messages__author_kind="staff" if not handles_threads(user) else "customer")
    # Explicit order: a grouped query ignores the model's default ordering.
    return threads.annotate(unread=Count("messages", filter=unread)).order_by(
        "-last_message_at", "-id"
    )


def thread_get(user: AnyUser, pk: int) -> Thread:
    """The thread ``pk`` if ``user`` sees it (``Thread.DoesNotExist`` otherwise)."""
    thread: Thread = (
        threads_visible_to(user).select_related("customer", "region", "assignee").get(pk=pk)
    )
    return thread


def thread_messages(user: AnyUser, thread: Thread) -> list[SecureMessage]:
    return list(
        messages_visible_to(user, thread)
        .select_related("author", "approved_by", "retracted_by", "reviewed_by")
        .prefetch_related("attachments")
    )


def attachment_get(user: AnyUser, thread: Thread, pk: int) -> MessageAttachment:
    """A file of a message of ``thread`` (fetched through ``thread_get``) that ``user``
    reads: a customer never gets the files of a withdrawn reply (``DoesNotExist``)."""
    attachment: MessageAttachment = MessageAttachment.objects.select_related("message").get(
        pk=pk, message__in=messages_visible_to(user, thread)
    )
    return attachment


def unread_of(user: AnyUser, thread: Thread) -> QuerySet[SecureMessage]:
    """The other side's messages of ``thread`` that ``user``'s side has not read."""
    return messages_visible_to(user, thread).filter(
        customer_side(user), read_at__isnull=True, internal=False
    )


def thread_drafts(user: AnyUser, thread: Thread) -> list[Draft]:
    """The assistant's drafts on ``thread``: staff who handle it only (customers never)."""
    if not handles_threads(user):
        return []
    return list(Draft.objects.filter(thread=thread).select_related("message", "decided_by"))


def draft_get(user: AnyUser, pk: int) -> Draft:
    if not handles_threads(user):
        raise Draft.DoesNotExist("No such draft.")
    draft: Draft = Draft.objects.select_related("thread", "message").get(
        pk=pk, thread__in=threads_visible_to(user)
    )
    return draft


def message_get(user: AnyUser, pk: int) -> SecureMessage:
    """A message of a thread ``user`` sees, as their side sees it (DoesNotExist otherwise)."""
    message = SecureMessage.objects.select_related("thread").filter(pk=pk).first()
    if message is None or not threads_visible_to(user).filter(pk=message.thread_id).exists():
        raise SecureMessage.DoesNotExist("No such message.")
    if not messages_visible_to(user, message.thread).filter(pk=pk).exists():
        raise SecureMessage.DoesNotExist("No such message.")
    return message


@dataclass(frozen=True)
class InboxSummary:
    waiting: int  # threads with a customer message not answered yet
    oldest_waiting_since: datetime | None
    unassigned: int

    @property
    def oldest_age(self) -> timedelta | None:
        if self.oldest_waiting_since is None:
            return None
        return timezone.now() - self.oldest_waiting_since


def inbox_summary(user: AnyUser) -> InboxSummary:
    """The service-level figures of ``user``'s inbox (the dashboard's panel)."""
    rows = threads_visible_to(user).exclude(status=ThreadStatus.CLOSED)
    figures = rows.aggregate(
        waiting=Count("pk", filter=Q(waiting_since__isnull=False)),
        oldest=Min("waiting_since"),
        unassigned=Count("pk", filter=Q(assignee__isnull=True, waiting_since__isnull=False)),
    )
    return InboxSummary(figures["waiting"], figures["oldest"], figures["unassigned"])


def drafts_ready_count(user: AnyUser) -> int:
    if not handles_threads(user):
        return 0
    return Draft.objects.filter(
        thread__in=threads_visible_to(user), status=DraftStatus.READY
    ).count()


def reviews_pending_count(user: AnyUser) -> int:
    """Automatic replies picked for review in the threads ``user`` handles (supervisors)."""
    if not (handles_threads(user) and can(user, Action.MANAGE_HANDOFFS)):
        return 0
    return SecureMessage.objects.filter(
        review=SampleReview.PENDING, thread__in=threads_visible_to(user)
    ).count()
