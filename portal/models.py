"""Regions, user profiles, the append-only audit trail and hashed API tokens."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models

from portal.crypto import EncryptedTextField, data_key_new
from portal.storage import encrypted_storage


class Region(models.Model):
    """A branch or region; records tagged with one are visible to its users only."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    regions = models.ManyToManyField(Region, blank=True, related_name="profiles")

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class AuditEvent(models.Model):
    """One thing that happened. Rows are never updated or deleted (a trigger enforces it)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No FK constraint and no cascade: deleting a user must not touch their history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # The hash chain (portal/audit_chain.py): set once, just after the event is committed,
    # by the database's sealing function; an unsealed event has no seq yet.
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False, db_default="")
    hash = models.CharField(max_length=64, blank=True, editable=False, db_default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "-created_at"]),
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_unsealed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    @property
    def details_json(self) -> str:
        return json.dumps(self.details, sort_keys=True, ensure_ascii=False, default=str)


class AuditAnchor(models.Model):
    """A signed checkpoint of the audit chain: its head (seq, hash) and the number of
    events at that moment, HMAC-signed with ``AUDIT_ANCHOR_KEY`` and, where configured,
    appended to a write-once file too (``AUDIT_ANCHOR_PATH``). A rewrite of the whole chain
    no longer matches the anchors. Append-only like the trail."""

    created_at = models.DateTimeField()
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    events = models.BigIntegerField()
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq", "-id"]

    def __str__(self) -> str:
        return f"anchor at {self.seq} ({self.created_at:%Y-%m-%d %H:%M})"


# What a token may do (docs/api.md, "Token scopes"): GET outside the assistant needs
# "read", any other method outside it "write", everything of the assistant (conversations,
# messages, feedback, hand-offs) "assistant".
TOKEN_SCOPES = ("read", "write", "assistant")


class ApiToken(models.Model):
    """An API key for integrations; only its SHA-256 is stored, the key is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ExternalIdentity(models.Model):
    """A staff account as an identity provider knows it: the provider's issuer and its stable
    subject id (``sub``), never the e-mail address, which can change hands. Created at the
    first single sign-on (just in time); the last groups the provider sent are kept for the
    access review."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class GroupMapping(models.Model):
    """A group of the identity provider gives a role, and optionally a region: e.g.
    ``portal-agents-north`` → ``agent`` + ``north``. A user's roles and regions are exactly
    what their groups map to, re-synced at every single sign-on."""

    group = models.CharField(max_length=255, db_index=True)
    role = models.CharField(max_length=32, blank=True)
    region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "role", "region"],
                name="group_mapping_unique",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=~models.Q(role="") | models.Q(region__isnull=False),
                name="group_mapping_grants_something",
            ),
        ]

    def __str__(self) -> str:
        gives = [part for part in (self.role, self.region and self.region.code) if part]
        return f"{self.group} → {' + '.join(str(part) for part in gives)}"


class UserSession(models.Model):
    """A signed-in session, as its user and the admins see it ("your sessions"): when it
    started, when it was last used, from where. The session itself lives in Django's session
    store; ending one here deletes it there."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_sessions"
    )
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"Session of {self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class AccessReview(models.Model):
    """A compliance officer's decision on one user's access: certified as it is, or to be
    revoked (an open task for who manages users until they mark it done)."""

    CERTIFIED = "certified"
    REVOKE = "revoke"
    DECISIONS = [(CERTIFIED, "Certified"), (REVOKE, "Revoke")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_reviews"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=DECISIONS)
    comment = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()}: {self.user} by {self.reviewer}"


class ScimToken(models.Model):
    """The bearer token of an identity provider's provisioning client (SCIM, /scim/v2/). Only
    its SHA-256 is stored; the token is shown once, by ``manage.py scim_token create``."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ScimAccount(models.Model):
    """A staff account provisioned by the identity provider (SCIM). Its roles and regions are
    what its SCIM groups map to (``GroupMapping``); ``scim_id`` is its SCIM ``id``. A SCIM
    deletion deactivates the account and hides it from SCIM (``deleted_at``): accounts are
    never removed, the audit trail names them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim_account"
    )
    scim_id = models.UUIDField(unique=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    display_name = models.CharField(max_length=255, blank=True)
    # [{"value", "type", "primary"}]; the primary (else the first) is the user's e-mail.
    emails = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Deactivated by the portal's administrators (not by SCIM): SCIM cannot reactivate it.
    admin_hold = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [
            # It links the account at its first single sign-on: one live account per value.
            models.UniqueConstraint(
                fields=["external_id"],
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(external_id=""),
                name="scim_account_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"SCIM account of {self.user}"


class ScimGroup(models.Model):
    """A group of the identity provider, pushed by SCIM with its members. Its
    ``display_name`` is what ``GroupMapping.group`` names."""

    scim_id = models.UUIDField(unique=True)
    display_name = models.CharField(max_length=255, unique=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    members = models.ManyToManyField(ScimAccount, blank=True, related_name="groups")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def _export_path(instance: models.Model, filename: str) -> str:
    return f"exports/{uuid.uuid4().hex}.zip"


class RecordExport(models.Model):
    """An export for regulators or eDiscovery (portal.records.export): a ZIP of JSON Lines
    and CSV files with a manifest, built by a Celery task, encrypted at rest, downloaded by
    who asked for it. Asking and downloading are audited."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="record_exports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    # {"start", "end" (ISO), "user_id", "user", "customer_id"}
    filters = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)  # {source: records written}
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    file = models.FileField(
        upload_to=_export_path, max_length=200, storage=encrypted_storage, blank=True
    )
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.status})"


class LegalHold(models.Model):
    """A preservation order on a customer, a user, a conversation or a submission: its
    records are never purged by retention (portal.records.retention) until released."""

    KINDS = (
        ("customer", "Customer"),
        ("user", "User"),
        ("conversation", "Conversation"),
        ("submission", "Submission"),
    )

    kind = models.CharField(max_length=16, choices=KINDS)
    target_id = models.BigIntegerField()
    reason = models.TextField()
    case_reference = models.CharField(max_length=100)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [models.Index(fields=["kind", "target_id"], name="legal_hold_target")]

    def __str__(self) -> str:
        return f"Hold on {self.kind} {self.target_id} ({self.case_reference})"


class AuditVerification(models.Model):
    """One verification of the audit chain, asked for on the integrity page and run by a
    worker (portal.audit_chain.verification_run): a large trail takes longer than a page."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    ok = models.BooleanField(null=True)
    checked = models.BigIntegerField(default=0)
    anchors_checked = models.IntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    seconds = models.FloatField(default=0)
    # [{"seq", "event_id", "problem", "detail"}]
    breaks = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Verification #{self.pk} ({self.status})"


class DataKey(models.Model):
    """The data key one subject's personal values are encrypted under (``portal.crypto``,
    crypto-shredding), stored wrapped by ``FIELD_ENCRYPTION_KEYS`` (``rotate_field_keys``
    re-wraps it). Erasure destroys it: ``wrapped`` emptied, ``destroyed_at`` set; the row
    stays, so a value under it reads as erased rather than as damaged."""

    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField(null=True, blank=True)  # set once the subject exists
    wrapped = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="datakey_subject")]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else "live"
        return f"Data key {self.pk} of {self.subject_type} {self.subject_id} ({state})"

    @classmethod
    def new(cls, subject_type: str, subject_id: int | None = None) -> DataKey:
        """An unsaved new key (``bulk_create`` them, or ``save()``)."""
        return cls(subject_type=subject_type, subject_id=subject_id, wrapped=data_key_new())


class ErasureCertificate(models.Model):
    """The proof that one customer's personal data was erased (portal.records.erasure):
    what, when, by whom, at whose request, which record classes and how many records; its
    content is signed with the audit anchors' key (``AUDIT_ANCHOR_KEYS``)."""

    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField()
    subject_reference = models.CharField(max_length=64)  # e.g. the customer number
    request_reference = models.CharField(max_length=100)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    performed_by_name = models.CharField(max_length=150)  # as it was (names may change)
    performed_at = models.DateTimeField()
    # {"record class": {"label", "records"}}
    classes = models.JSONField(default=dict)
    data_keys_destroyed = models.IntegerField(default=0)
    data_key_ids = models.JSONField(default=list, blank=True)
    audit_event_id = models.BigIntegerField(null=True, blank=True)  # its records.erased
    kept = models.JSONField(default=list, blank=True)  # [str]: what was kept, and why
    key_id = models.CharField(max_length=16, blank=True)
    signature = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-performed_at", "-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="erasure_subject")]

    def __str__(self) -> str:
        return f"Erasure certificate #{self.pk} ({self.subject_type} {self.subject_reference})"
