"""Conversations with the assistant, their messages, feedback and hand-offs to a person.

What people type and what the answers say (customer names, numbers, tax ids as the asker
saw them) is encrypted at rest (``portal.crypto``, the ``FIELD_ENCRYPTION_KEYS`` of customer
records): titles, questions and answers, citations, tool calls, cards, hand-off reasons and
notes, feedback comments. Those columns cannot be searched or ordered in SQL. Ids, roles,
statuses, model names, token counts, times and errors stay plain (the page and the rate
limit filter on them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.crypto import EncryptedJSONField, EncryptedTextField


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    # Often the first question, in the asker's words (at most 200 characters, services).
    title = EncryptedTextField(blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    def personal_data_key_id(self) -> int | None:
        """About one customer: encrypted under their data key (erasure destroys it)."""
        customer = self.customer if self.customer_id else None
        # After an erasure, new words in it are not the erased customer's: project keys.
        return customer.data_key_id if customer is not None and not customer.erased_at else None


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = EncryptedTextField()  # markdown
    content_html = EncryptedTextField(blank=True)  # sanitized; assistant messages only
    # [{n, type, chunk_id, document_id, version, page, title} | {n, type, customer_id, title}]
    # for the citations that passed the check (a customer's title is its number and name).
    citations = EncryptedJSONField(default=list, blank=True)
    # Every chunk put in front of the model (or the extractive answerer).
    source_chunk_ids = models.JSONField(default=list, blank=True)
    # The collections of those chunks when the answer was written: who reads a handed-off
    # conversation sees the answer only if they may read every one (assistant.presenters).
    source_collection_ids = models.JSONField(default=list, blank=True)
    # Every customer record put in front of the model, with how the asker saw its sensitive
    # fields: [{"type": "customer", "id": 12, "named_by_user": true, "visibility": {...}}].
    source_record_ids = models.JSONField(default=list, blank=True)
    # [{id, name, arguments, ok, summary}] for each tool call the model (or a command) made:
    # arguments hold names searched and values pre-filled.
    tool_calls = EncryptedJSONField(default=list, blank=True)
    # What the reader gets besides the text: pre-fill, hand-off, customer and notice cards
    # (customer names and numbers, hand-off reasons).
    cards = EncryptedJSONField(default=list, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    # What explains the answer later (assistant/answering/lineage.py): models, prompt
    # version, retrieval settings, each source's ids and the SHA-256 of what the model read,
    # citations kept and removed, tools. The texts themselves, encrypted, beside it.
    lineage = models.JSONField(default=dict, blank=True)
    source_texts = EncryptedJSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        # Never the text: the admin's inline headers and logs print this, and an answer may
        # quote a collection the reader may not read (assistant.presenters decides that).
        return f"{self.role} message {self.pk}"

    def personal_data_key_id(self) -> int | None:
        return self.conversation.personal_data_key_id()


class Feedback(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    comment = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="assistant_feedback_once")
        ]

    def __str__(self) -> str:
        return f"{'helpful' if self.helpful else 'not helpful'} on message {self.message_id}"

    def personal_data_key_id(self) -> int | None:
        return self.message.personal_data_key_id()


class HandoffStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"


class Handoff(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoffs"
    )
    reason = EncryptedTextField()
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=16, choices=HandoffStatus.choices, default=HandoffStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The draft the assistant pre-filled in this conversation, if any.
    submission = models.ForeignKey(
        "forms_app.FormSubmission",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Whose queue it lands in: the customer's region, else the requester's.
    region = models.ForeignKey(
        "portal.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    notes = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Handoff {self.pk} ({self.status})"

    def personal_data_key_id(self) -> int | None:
        customer = self.customer if self.customer_id else None
        # After an erasure, new words in it are not the erased customer's: project keys.
        return customer.data_key_id if customer is not None and not customer.erased_at else None
