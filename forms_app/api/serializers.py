from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from forms_app.models import FormDefinition, FormField
from forms_app.schema import definition_json_schema


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
        fields = [
            "key",
            "label",
            "type",
            "required",
            "help_text",
            "choices",
            "validation",
            "show_when",
            "sensitivity",
            "binding",
        ]


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
            "fields",
            "json_schema",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_json_schema(self, definition: FormDefinition) -> dict[str, Any]:
        return definition_json_schema(definition)
