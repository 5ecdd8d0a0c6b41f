from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from forms_app.models import FormDefinition, FormField, FormSubmission
from forms_app.schema import definition_json_schema
from forms_app.selectors import submission_data_for
from forms_app.services import FIELD_ATTRIBUTES


class FormDefinitionListSerializer(serializers.ModelSerializer[FormDefinition]):
    class Meta:
        model = FormDefinition
        fields = ["slug", "title", "description", "version"]


class FormFieldSerializer(serializers.ModelSerializer[FormField]):
    choices = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    )
    validation = serializers.DictField()
    show_when = serializers.DictField()
    # Plain strings: enums named "sensitivity" / "status" already exist in the schema.
    sensitivity = serializers.CharField(help_text="`normal` or `sensitive`")

    class Meta:
        model = FormField
        fields = [name for name in FIELD_ATTRIBUTES if name != "order"]


class FormDefinitionDetailSerializer(serializers.ModelSerializer[FormDefinition]):
    fields = FormFieldSerializer(many=True, read_only=True)  # type: ignore[assignment]
    json_schema = serializers.SerializerMethodField()
    status = serializers.CharField(help_text="`draft` or `published`")

    class Meta:
        model = FormDefinition
        fields = [
            "slug",
            "title",
            "description",
            "version",
            "status",
            "fill_roles",
            "review_roles",
            "customer_reauthentication",
            "fields",
            "json_schema",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_json_schema(self, definition: FormDefinition) -> dict[str, Any]:
        return definition_json_schema(definition)


class PrefillInputSerializer(serializers.Serializer[Any]):
    customer_id = serializers.IntegerField()
    account_id = serializers.IntegerField(required=False, allow_null=True)
    transaction_id = serializers.IntegerField(required=False, allow_null=True)


class PrefillOutputSerializer(serializers.Serializer[Any]):
    values = serializers.DictField(
        child=serializers.DictField(),
        help_text='{key: {"value": ..., "provenance": {...} | null}}; masked values are null.',
    )


class SubmissionCreateSerializer(PrefillInputSerializer):
    form = serializers.SlugField(help_text="The form's slug (its current version is used).")
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]
    submit = serializers.BooleanField(required=False, default=False)


class SubmissionCommentSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class SubmissionEventSerializer(serializers.Serializer[Any]):
    actor = serializers.CharField(source="actor.get_username")
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()
    at = serializers.DateTimeField()


class SubmissionSerializer(serializers.ModelSerializer[FormSubmission]):
    form = serializers.CharField(source="definition.slug")
    version = serializers.IntegerField(source="definition.version")
    submitted_by = serializers.CharField(source="submitted_by.get_username")
    reviewer = serializers.SerializerMethodField()
    customer_id = serializers.IntegerField(read_only=True)
    account_id = serializers.IntegerField(read_only=True, allow_null=True)
    transaction_id = serializers.IntegerField(read_only=True, allow_null=True)
    status = serializers.CharField(
        help_text="draft, submitted, in_review, approved, rejected or withdrawn"
    )
    data = serializers.SerializerMethodField()  # type: ignore[assignment]
    provenance = serializers.DictField()
    events = SubmissionEventSerializer(many=True, read_only=True)

    @extend_schema_field(serializers.DictField())
    def get_data(self, submission: FormSubmission) -> dict[str, Any]:
        """Values masked per the requesting user's field visibility."""
        return submission_data_for(self.context["request"].user, submission)

    class Meta:
        model = FormSubmission
        fields = [
            "id",
            "form",
            "version",
            "customer_id",
            "account_id",
            "transaction_id",
            "status",
            "data",
            "provenance",
            "submitted_by",
            "reviewer",
            "decision_comment",
            "created_at",
            "updated_at",
            "submitted_at",
            "decided_at",
            "events",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))  # null until reviewed
    def get_reviewer(self, submission: FormSubmission) -> str | None:
        return submission.reviewer.get_username() if submission.reviewer else None


class SubmissionFileSerializer(serializers.Serializer[Any]):
    field = serializers.CharField(max_length=64, help_text="The key of a file field of the form.")
    file = serializers.FileField(help_text="Checked like document uploads (type by magic bytes).")
