"""Secure threads between a customer and the bank, their messages, the assistant's drafts,
and invitations of customers to the message center.

What people write (subjects, messages, notes, drafts and their sources) is encrypted at
rest under the customer's data key (``portal.crypto``: erasure destroys it). Statuses,
times, ids and categories stay plain: the inbox filters and orders on them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from portal.crypto import EncryptedJSONField, EncryptedTextField
from portal.storage import encrypted_storage


class Category(models.TextChoices):
    CARD_DISPUTE = "card_dispute", "Card dispute"
    ADDRESS_CHANGE = "address_change", "Address change"
    FRAUD = "fraud", "Fraud"
    GENERAL = "general", "General"


class ThreadStatus(models.TextChoices):
    OPEN = "open", "Open"
    AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
    AWAITING_BANK = "awaiting_bank", "Awaiting bank"
    CLOSED = "closed", "Closed"


class _OfCustomer(models.Model):
    class Meta:
        abstract = True

    def personal_data_key_id(self) -> int | None:
        """Encrypted under the customer's data key (erasure destroys it); after an erasure,
        new words are not the erased customer's: project keys."""
        customer = self._customer()
        return customer.data_key_id if customer is not None and not customer.erased_at else None

    def _customer(self) -> Any:
        raise NotImplementedError


class Thread(_OfCustomer):
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="secure_threads"
    )
    # The customer's region when the thread began: whose inbox it is in.
    region = models.ForeignKey("portal.Region", on_delete=models.PROTECT, related_name="+")
    subject = EncryptedTextField()
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.GENERAL)
    status = models.CharField(
        max_length=24, choices=ThreadStatus.choices, default=ThreadStatus.AWAITING_BANK
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The oldest customer message not answered yet (the service-level timer); None when the
    # bank has answered everything.
    waiting_since = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["region", "status", "-last_message_at"]),
            models.Index(fields=["customer", "-last_message_at"]),
            models.Index(fields=["status", "last_message_at"]),
        ]

    def __str__(self) -> str:
        return f"Thread {self.pk} ({self.status})"  # never the subject: logs print this

    def _customer(self) -> Any:
        return self.customer if self.customer_id else None


class Author(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    STAFF = "staff", "Staff"


class SampleReview(models.TextChoices):
    """A supervisor's look at an automatically sent reply picked for review."""

    NONE = "", "Not sampled"
    PENDING = "pending", "Waiting for a supervisor"
    FINE = "fine", "Reviewed: fine"
    CONCERN = "concern", "Reviewed: concern raised"


class SecureMessage(_OfCustomer):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    author_kind = models.CharField(max_length=16, choices=Author.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = EncryptedTextField()
    # A note between staff: never shown to the customer, never notified.
    internal = models.BooleanField(default=False)
    # A reply written with the assistant: the draft it came from and who approved it.
    draft = models.ForeignKey(
        "Draft", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A form sent with this reply for the customer to confirm (forms_app).
    form = models.ForeignKey(
        "forms_app.FormSubmission",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Read by the other side: the customer for the bank's messages, any handler of the
    # thread for the customer's (read receipts).
    read_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Withdrawn by the bank before the customer read it: the customer no longer sees it.
    retracted_at = models.DateTimeField(null=True, blank=True)
    retracted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Sent without a person's approval, where the bank allows it (SECURE_AUTO_SEND_CATEGORIES);
    # a sample of those waits for a supervisor's review (SECURE_AUTO_SEND_REVIEW_PERCENT).
    auto_sent = models.BooleanField(default=False)
    review = models.CharField(
        max_length=16, choices=SampleReview.choices, blank=True, default=SampleReview.NONE
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["thread", "created_at"]),
            models.Index(
                fields=["review"],
                name="messaging_review_pending",
                condition=models.Q(review="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_kind} message {self.pk}"

    def _customer(self) -> Any:
        return self.thread.customer if self.thread_id else None


def _attachment_path(instance: models.Model, filename: str) -> str:
    # A random name: nothing of the customer's file name on disk or in the blob store (the
    # original name is kept, encrypted, in the row).
    token = uuid.uuid4().hex
    return f"secure-messages/{token[:2]}/{token}"


class MessageAttachment(_OfCustomer):
    """A file sent with a message (a receipt, a statement), checked like document uploads
    (type by its magic bytes, size), encrypted at rest (``portal.storage``) and served only
    through the message center's views, to those who see its message."""

    message = models.ForeignKey(SecureMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path, max_length=300, storage=encrypted_storage)
    original_filename = EncryptedTextField()
    content_type = models.CharField(max_length=120)  # as its content was checked
    sha256 = models.CharField(max_length=64)  # of the plaintext
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"Attachment {self.pk} of message {self.message_id}"  # never the file name

    def _customer(self) -> Any:
        return self.message.thread.customer if self.message_id else None


class DraftStatus(models.TextChoices):
    PENDING = "pending", "Being written"
    READY = "ready", "Ready for review"
    FAILED = "failed", "Failed"
    SENT = "sent", "Approved and sent"
    DISCARDED = "discarded", "Discarded"
    # Another reply answered the thread first (a newer draft, or a reply written by hand).
    SUPERSEDED = "superseded", "Superseded"


class Draft(_OfCustomer):
    """The assistant's proposed reply to a customer message, for a person to approve."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="drafts")
    # The customer message it answers.
    message = models.ForeignKey(SecureMessage, on_delete=models.CASCADE, related_name="drafts")
    status = models.CharField(
        max_length=16, choices=DraftStatus.choices, default=DraftStatus.PENDING
    )
    body = EncryptedTextField(blank=True)  # as the assistant wrote it (Markdown)
    # [{n, chunk_id, document_id, version, title, collection}] of the citations kept.
    citations = EncryptedJSONField(default=list, blank=True)
    # Every chunk put in front of the model (or the extractive answerer), all customer-facing.
    source_chunk_ids = models.JSONField(default=list, blank=True)
    source_collections = models.JSONField(default=list, blank=True)  # their slugs
    # "sources": grounded in customer-facing sources; "none": nothing found (the agent
    # writes the reply).
    confidence = models.CharField(max_length=16, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    # A form that covers what the message asks for, bound to the customer's own transaction
    # the message describes: {"form", "transaction_id", "account_id", "matched_by",
    # "explanation", "ties"} (ids only; the values are read when the agent sends it).
    form_proposal = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message"], name="messaging_one_draft_per_message")
        ]

    def __str__(self) -> str:
        return f"Draft {self.pk} ({self.status})"

    def _customer(self) -> Any:
        return self.thread.customer if self.thread_id else None


class Invitation(models.Model):
    """A single-use link that lets a customer set the password of their new account."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)  # SHA-256 of the link's token
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Invitation {self.pk}"
