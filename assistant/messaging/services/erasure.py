"""What erasing a customer's personal data does to the secure message center
(``portal.records.erasure`` through the registry): the words of their threads, messages and
drafts are overwritten and the files sent with messages deleted (the words were encrypted
under the customer's data key, which erasure destroys too), their account can no longer sign
in (deactivated, its e-mail cleared, its code devices, authenticator app and unused
invitations gone). Who wrote when, statuses and ids stay."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from assistant.messaging.models import (
    Draft,
    Invitation,
    MessageAttachment,
    SecureMessage,
    Thread,
    ThreadStatus,
)
from knowledge.customers.selectors import customer_login_by_id
from portal.crypto import ERASED
from portal.identity.provisioning import account_deactivate
from portal.records.retention import delete_files_on_commit

CLASSES = {
    "secure_threads": "Secure threads (subjects)",
    "secure_messages": "Secure messages and notes",
    "secure_drafts": "The assistant's draft replies",
    "secure_attachments": "Files sent with secure messages (deleted)",
    "customer_accounts": "The customer's sign-in account",
}


def messaging_erasure_blockers(customer_id: int, holds: Any) -> list[str]:
    """Threads still waiting for the bank's answer (open work)."""
    return [
        f"Secure thread #{pk} still waits for the bank's answer: answer or close it first."
        for pk in Thread.objects.filter(customer_id=customer_id, waiting_since__isnull=False)
        .exclude(status=ThreadStatus.CLOSED)
        .values_list("pk", flat=True)
    ]


def messaging_erase(customer_id: int) -> dict[str, int]:
    threads = Thread.objects.filter(customer_id=customer_id)
    counts = {
        "secure_threads": threads.update(subject=ERASED),
        "secure_messages": SecureMessage.objects.filter(thread__customer_id=customer_id).update(
            body=ERASED, review_note=""
        ),
        "secure_drafts": Draft.objects.filter(thread__customer_id=customer_id).update(
            body=ERASED, citations=[], form_proposal={}
        ),
        "secure_attachments": _attachments_erase(customer_id),
        "customer_accounts": 0,
    }
    user = customer_login_by_id(customer_id)
    if user is not None:
        Invitation.objects.filter(user=user, used_at__isnull=True).update(revoked_at=timezone.now())
        EmailDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        if user.is_active:
            account_deactivate(user=user, actor_label="erasure", reason="customer_erased")
        type(user).objects.filter(pk=user.pk).update(email="")
        counts["customer_accounts"] = 1
    return counts


def _attachments_erase(customer_id: int) -> int:
    """The files go from the storage once the erasure commits; the rows keep only the size
    and the digest (what was sent, not what it said)."""
    rows = MessageAttachment.objects.filter(message__thread__customer_id=customer_id)
    delete_files_on_commit([row.file for row in rows.exclude(file="")])
    return rows.update(file="", original_filename=ERASED)
