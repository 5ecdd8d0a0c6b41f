"""Celery tasks of the secure message center: thin, take ids, own the retries."""

from __future__ import annotations

import smtplib

from celery import Task, shared_task

from assistant.messaging.services.drafting import draft_write, drafts_requeue_stale
from assistant.messaging.services.notifications import customer_notify
from assistant.messaging.services.threads import draft_auto_send, threads_close_inactive


@shared_task(acks_late=True, ignore_result=True)
def draft_write_task(draft_id: int) -> None:
    """Write the draft; where the bank allows it (off by default), send it at once."""
    draft_write(draft_id)
    draft_auto_send(draft_id)


@shared_task(bind=True, max_retries=5, ignore_result=True)
def customer_notify_task(self: Task, thread_id: int) -> None:
    try:
        customer_notify(thread_id)
    except (smtplib.SMTPException, OSError) as error:  # the mail server is down or refused
        raise self.retry(exc=error, countdown=min(60 * 2**self.request.retries, 3600)) from error


@shared_task(ignore_result=True)
def threads_close_inactive_task() -> int:
    """Hourly: close inactive threads and queue drafts whose task was lost."""
    for draft_id in drafts_requeue_stale():
        draft_write_task.apply_async((draft_id,), retry=False)
    return threads_close_inactive()
