"""A form definition as JSON Schema (draft 2020-12), with pre-fill and visibility extensions."""

from __future__ import annotations

from typing import Any

from forms_app.models import FieldType, FormDefinition, FormField

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _field_schema(field: FormField) -> dict[str, Any]:
    rules = field.validation or {}
    schema: dict[str, Any] = {"title": field.label}
    if field.help_text:
        schema["description"] = field.help_text
    kind = field.type
    if kind in (FieldType.DECIMAL, FieldType.MONEY):
        schema["type"] = "number"
        if "min" in rules:
            schema["minimum"] = float(rules["min"])
        if "max" in rules:
            schema["maximum"] = float(rules["max"])
        if kind == FieldType.MONEY:
            schema["multipleOf"] = 0.01
    elif kind == FieldType.CHECKBOX:
        schema["type"] = "boolean"
    elif kind == FieldType.MULTI_CHOICE:
        schema["type"] = "array"
        schema["items"] = {"type": "string", "enum": [value for value, _ in field.choices]}
        schema["uniqueItems"] = True
    elif kind == FieldType.FILE:
        schema["type"] = "string"
        schema["contentMediaType"] = "application/octet-stream"
        schema["contentEncoding"] = "base64"
    else:
        schema["type"] = "string"
        if kind == FieldType.CHOICE:
            schema["enum"] = [value for value, _ in field.choices]
        elif kind == FieldType.EMAIL:
            schema["format"] = "email"
        elif kind == FieldType.DATE:
            schema["format"] = "date"
        if "regex" in rules:
            schema["pattern"] = str(rules["regex"])
        if "max_length" in rules:
            schema["maxLength"] = int(rules["max_length"])
    if field.choices and kind in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        schema["x-choice-labels"] = {value: label for value, label in field.choices}
    if field.binding:
        schema["x-binding"] = field.binding
    if field.show_when:
        schema["x-show-when"] = dict(field.show_when)
    if field.sensitivity != "normal":
        schema["x-sensitivity"] = field.sensitivity
    return schema


def definition_json_schema(definition: FormDefinition) -> dict[str, Any]:
    """The definition's fields as a JSON Schema object; conditional fields are never required."""
    fields = sorted(definition.fields.all(), key=lambda f: (f.order, f.pk or 0))
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:portal:form:{definition.slug}:v{definition.version}",
        "title": definition.title,
        "description": definition.description,
        "type": "object",
        "properties": {field.key: _field_schema(field) for field in fields},
        # Required only when always shown: a hidden field is never required (server rule).
        "required": [f.key for f in fields if f.required and not f.show_when],
        "additionalProperties": False,
        "x-version": definition.version,
    }
