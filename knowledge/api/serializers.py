"""Shapes of the knowledge API; lookups of what a user may touch live in the views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from knowledge.models import Document, DocumentStatus, DocumentVersion, Sensitivity
from knowledge.selectors import MAX_QUERY_LENGTH, SearchMode
from knowledge.services import MAX_REASON_LENGTH
from portal.permissions import STAFF_ROLES

ROLE_CHOICES = [role.value for role in STAFF_ROLES]
# Plain strings (the service checks them): two fields sharing one enum would need an
# ENUM_NAME_OVERRIDES entry in the settings to keep the schema free of warnings.
_ROLES_HELP = f"Role names, any of: {', '.join(ROLE_CHOICES)}."


class CollectionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices)
    read_roles = serializers.ListField(child=serializers.CharField())
    manage_roles = serializers.ListField(child=serializers.CharField())
    document_count = serializers.IntegerField(
        help_text="Documents in the collection (archived ones not counted)."
    )
    manageable = serializers.BooleanField(help_text="Whether you may add and change documents.")


class CollectionCreateSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    sensitivity = serializers.ChoiceField(
        choices=Sensitivity.choices, required=False, default=Sensitivity.INTERNAL
    )
    read_roles = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        help_text=_ROLES_HELP,
    )
    manage_roles = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        help_text=_ROLES_HELP,
    )


class DocumentVersionSerializer(serializers.ModelSerializer[DocumentVersion]):
    class Meta:
        model = DocumentVersion
        fields = ["number", "status", "error", "sha256", "created_at"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer[Document]):
    collection = serializers.SlugField(source="collection.slug", read_only=True)
    # Declared: a read-only model field loses allow_blank, and "" is not a URI.
    source_url = serializers.URLField(
        read_only=True,
        allow_blank=True,
        help_text="Where the document was fetched from; empty for an uploaded file.",
    )
    archived_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When it was archived (out of search and answers); null for a current "
        "document. Only those who manage the collection see archived documents.",
    )
    archived_by = serializers.CharField(
        source="archived_by.username",
        read_only=True,
        allow_null=True,
        help_text="Who archived it (username); null when current or archived by the system.",
    )

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "collection",
            "status",
            "error",
            "version",
            "live_version",
            "chunk_count",
            "content_type",
            "sha256",
            "size_bytes",
            "effective_date",
            "source_url",
            "archived_at",
            "archived_by",
            "archive_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    versions = DocumentVersionSerializer(many=True, read_only=True)

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "versions"]
        read_only_fields = fields


class DocumentUploadSerializer(serializers.Serializer[Any]):
    collection = serializers.CharField(
        max_length=64, help_text="Slug or id of a collection you manage."
    )
    title = serializers.CharField(max_length=300)
    file = serializers.FileField(
        use_url=False,
        required=False,
        allow_null=True,
        default=None,
        help_text="PDF, Word (.docx), HTML, Markdown or plain text.",
    )
    source_url = serializers.URLField(
        required=False,
        allow_blank=True,
        max_length=1000,
        default="",
        help_text="Without a file, the document is fetched from here (allowed hosts only).",
    )
    effective_date = serializers.DateField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("file") and not attrs.get("source_url"):
            raise serializers.ValidationError({"file": ["Upload a file or give a source_url."]})
        return attrs


class DocumentListQuerySerializer(serializers.Serializer[Any]):
    collection = serializers.CharField(required=False, help_text="Slug or id of a collection.")
    status = serializers.ChoiceField(choices=DocumentStatus.choices, required=False)
    archived = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: the archived documents of the collections you manage instead of the "
        "current ones.",
    )


class DocumentArchiveSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_REASON_LENGTH,
        help_text="Why (recorded in the audit trail and shown on the archived document).",
    )


class DocumentDeleteQuerySerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_REASON_LENGTH,
        help_text="Why (recorded in the audit trail).",
    )


class DocumentReprocessSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=DocumentStatus.choices)


class SearchQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH, help_text="What to search for.")
    k = serializers.IntegerField(
        min_value=1,
        max_value=settings.KNOWLEDGE_SEARCH_MAX_K,
        required=False,
        default=10,
        help_text="How many results.",
    )
    collection = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        help_text="Slugs or ids of collections to search in (repeat the parameter); "
        "all readable collections when left out.",
    )
    mode = serializers.ChoiceField(
        choices=[mode.value for mode in SearchMode],
        required=False,
        default=SearchMode.HYBRID.value,
    )


class SearchHitSerializer(serializers.Serializer[Any]):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    collection = serializers.CharField(source="collection_slug")
    version = serializers.IntegerField()
    ordinal = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    snippet_html = serializers.CharField(
        help_text="HTML-escaped text with <mark> around matched terms; safe to render as HTML."
    )
    text = serializers.CharField(help_text="The chunk's plain text (not escaped).")
    score = serializers.FloatField()
    dense_rank = serializers.IntegerField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)


class SearchResponseSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    mode = serializers.ChoiceField(choices=[mode.value for mode in SearchMode])
    model_mismatch = serializers.BooleanField(
        help_text="Readable chunks embedded with another model exist (reindex pending)."
    )
    results = SearchHitSerializer(many=True, source="hits")
