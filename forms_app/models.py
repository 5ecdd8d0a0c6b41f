"""Smart-form definitions: versioned forms and their fields (validation, visibility, bindings)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from portal.crypto import EncryptedJSONField, EncryptedTextField
from portal.storage import encrypted_storage


class DefinitionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    TEXTAREA = "textarea", "Long text"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    DATE = "date", "Date"
    DECIMAL = "decimal", "Number"
    MONEY = "money", "Money"
    CHOICE = "choice", "Choice"
    MULTI_CHOICE = "multi_choice", "Multiple choice"
    CHECKBOX = "checkbox", "Checkbox"
    TRANSACTION_PICKER = "transaction_picker", "Transaction picker"
    FILE = "file", "File"


class FieldSensitivity(models.TextChoices):
    NORMAL = "normal", "Normal"
    SENSITIVE = "sensitive", "Sensitive"


class FormDefinition(models.Model):
    """One version of a form; the current one of a slug is its highest published version."""

    slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=DefinitionStatus.choices, default=DefinitionStatus.DRAFT
    )
    fill_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    review_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # High risk when sent to a customer (an address change is how accounts are taken over):
    # the customer enters their password again to confirm it.
    customer_reauthentication = models.BooleanField(
        default=False,
        verbose_name="customers re-authenticate to confirm",
        help_text="Sent to a customer, the form is confirmed only with their password again.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug", "version"], name="forms_definition_slug_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version}, {self.status})"

    @property
    def is_published(self) -> bool:
        return self.status == DefinitionStatus.PUBLISHED


class FormField(models.Model):
    """A field of one definition version, in ``order``."""

    definition = models.ForeignKey(FormDefinition, on_delete=models.CASCADE, related_name="fields")
    order = models.PositiveIntegerField(default=0)
    key = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    type = models.CharField(max_length=32, choices=FieldType.choices, default=FieldType.TEXT)
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=500, blank=True)
    # [[value, label], ...]
    choices = models.JSONField(default=list, blank=True)
    # {"regex": ..., "min": ..., "max": ..., "max_length": ...}
    validation = models.JSONField(default=dict, blank=True)
    # {"field": key, "equals": value} or {"field": key, "not_empty": true}
    show_when = models.JSONField(default=dict, blank=True)
    sensitivity = models.CharField(
        max_length=16, choices=FieldSensitivity.choices, default=FieldSensitivity.NORMAL
    )
    binding = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "key"], name="forms_field_definition_key")
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class SubmissionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class FormSubmission(models.Model):
    """A filled form for one customer: a draft until submitted, then frozen and reviewed."""

    # The exact version filled: a later revision never changes what this submission meant.
    definition = models.ForeignKey(
        FormDefinition, on_delete=models.PROTECT, related_name="submissions"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="form_submissions"
    )
    account = models.ForeignKey(
        "customers.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="form_submissions",
    )
    transaction = models.ForeignKey(
        "customers.Transaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="form_submissions",
    )
    # Values may copy sensitive customer fields: encrypted at rest like the record itself.
    data = EncryptedJSONField(default=dict, blank=True)
    # {key: {"source": "customer_record", "record", "id", "field", "masked"} | {"source": "user"}}
    provenance = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=SubmissionStatus.choices, default=SubmissionStatus.DRAFT
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="form_submissions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="form_reviews",
    )
    # A reviewer's words about the customer's case: encrypted like the data.
    decision_comment = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # A form sent to the customer (the secure message center): who prepared it, when it was
    # sent, the values as sent (what the customer's changes are measured against), when the
    # customer confirmed it (then ``submitted_by`` is the customer's account).
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sent_to_customer_at = models.DateTimeField(null=True, blank=True)
    customer_prefill = EncryptedJSONField(default=dict, blank=True)
    customer_confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "definition"], name="forms_submission_status_def"),
            models.Index(fields=["submitted_by", "-updated_at"], name="forms_submission_owner"),
        ]

    def __str__(self) -> str:
        return f"Submission #{self.pk} ({self.definition.slug}, {self.status})"

    def personal_data_key_id(self) -> int | None:
        """Encrypted under the customer's data key (erasure destroys it)."""
        return self.customer.data_key_id


class SubmissionEvent(models.Model):
    """One transition of a submission: the history shown on its page."""

    submission = models.ForeignKey(FormSubmission, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, choices=SubmissionStatus.choices)
    comment = EncryptedTextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"

    def personal_data_key_id(self) -> int | None:
        return self.submission.personal_data_key_id()


def _attachment_path(instance: models.Model, filename: str) -> str:
    # A random name: nothing of the uploader's file name (which may name the customer) on
    # disk; the original name is kept, encrypted, in the row.
    token = uuid.uuid4().hex
    return f"submissions/{token[:2]}/{token}"


class SubmissionAttachment(models.Model):
    """A file given for a file field of a submission (checked like document uploads).

    The file is encrypted at rest (``portal.storage``) and decrypted only when served by
    ``forms_app.views.submission_attachment``; ``sha256`` and ``size_bytes`` are those of
    the plaintext.
    """

    submission = models.ForeignKey(
        FormSubmission, on_delete=models.PROTECT, related_name="attachments"
    )
    field_key = models.CharField(max_length=64)
    file = models.FileField(upload_to=_attachment_path, max_length=300, storage=encrypted_storage)
    original_filename = EncryptedTextField()
    content_type = models.CharField(max_length=120)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submission", "field_key", "-created_at"]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.field_key})"

    def personal_data_key_id(self) -> int | None:
        return self.submission.personal_data_key_id()

    def as_reference(self) -> dict[str, object]:
        """What the submission's data holds for the field."""
        return {"attachment_id": self.pk, "filename": self.original_filename, "sha256": self.sha256}
