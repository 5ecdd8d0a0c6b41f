"""Django forms built from a definition: field classes, validators and conditional visibility.

The server is the authority: a field hidden by ``show_when`` is never required and its
value is dropped; the browser script (static/js/forms.js) only mirrors the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout
from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import RegexValidator
from django.utils.html import conditional_escape

from forms_app.models import FieldType, FormDefinition, FormField
from knowledge.ingestion.parsers import ParseError, detect_content_type
from portal.formatting import format_size

PHONE_PATTERN = r"^\+?[0-9 ()./-]{6,24}$"
EMPTY_CHOICE = ("", "—")


def validate_upload(upload: UploadedFile) -> None:
    """Size limit and content type checked against the file's magic bytes."""
    checked_upload_type(upload)


def checked_upload_type(upload: UploadedFile) -> str:
    """``validate_upload``, returning the content type the file was checked as."""
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise forms.ValidationError(
            f"The file is {format_size(upload.size)}; the limit is {format_size(limit)}."
        )
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    try:
        return detect_content_type(upload.name or "", data, getattr(upload, "content_type", None))
    except ParseError as error:
        raise forms.ValidationError(str(error)) from error


def _regex_validators(rules: dict[str, Any]) -> list[Any]:
    if "regex" not in rules:
        return []
    return [RegexValidator(str(rules["regex"]), "Enter a value in the expected format.")]


def _choices(field: FormField) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in field.choices]


def make_field(field: FormField, transaction_choices: Sequence[tuple[str, str]] = ()) -> Any:
    """The Django form field for one definition field (required is set by the form)."""
    rules = field.validation or {}
    common: dict[str, Any] = {
        "label": field.label,
        # Plain text from the definition: escaped here, because crispy's (and Django's own)
        # field templates print help_text with |safe.
        "help_text": conditional_escape(field.help_text),
        "required": field.required and not field.show_when,
    }
    kind = field.type
    if kind in (FieldType.TEXT, FieldType.TEXTAREA):
        widget = forms.Textarea(attrs={"rows": 4}) if kind == FieldType.TEXTAREA else None
        return forms.CharField(
            max_length=rules.get("max_length"),
            validators=_regex_validators(rules),
            widget=widget,
            **common,
        )
    if kind == FieldType.EMAIL:
        return forms.EmailField(
            max_length=rules.get("max_length"), validators=_regex_validators(rules), **common
        )
    if kind == FieldType.PHONE:
        validators = _regex_validators(rules) or [
            RegexValidator(PHONE_PATTERN, "Enter a phone number (digits, spaces, + ( ) - .).")
        ]
        return forms.CharField(
            max_length=rules.get("max_length", 32),
            validators=validators,
            widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            **common,
        )
    if kind == FieldType.DATE:
        attrs = {"type": "date"}
        validators = []
        if "min" in rules:
            attrs["min"] = str(rules["min"])
            validators.append(_date_bound(date.fromisoformat(str(rules["min"])), minimum=True))
        if "max" in rules:
            attrs["max"] = str(rules["max"])
            validators.append(_date_bound(date.fromisoformat(str(rules["max"])), minimum=False))
        return forms.DateField(
            widget=forms.DateInput(attrs=attrs, format="%Y-%m-%d"),
            validators=validators,
            **common,
        )
    if kind in (FieldType.DECIMAL, FieldType.MONEY):
        return forms.DecimalField(
            min_value=Decimal(str(rules["min"])) if "min" in rules else None,
            max_value=Decimal(str(rules["max"])) if "max" in rules else None,
            decimal_places=2 if kind == FieldType.MONEY else None,
            max_digits=18,
            **common,
        )
    if kind == FieldType.CHOICE:
        return forms.ChoiceField(choices=[EMPTY_CHOICE, *_choices(field)], **common)
    if kind == FieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=_choices(field), widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == FieldType.CHECKBOX:
        return forms.BooleanField(**common)
    if kind == FieldType.TRANSACTION_PICKER:
        return forms.ChoiceField(choices=[EMPTY_CHOICE, *transaction_choices], **common)
    if kind == FieldType.FILE:
        return forms.FileField(validators=[validate_upload], **common)
    raise ValueError(f"Unknown field type {kind!r}")


def _date_bound(bound: date, *, minimum: bool) -> Any:
    def check(value: date) -> None:
        if value is None:
            return
        if minimum and value < bound:
            raise forms.ValidationError(f"The date must be on or after {bound.isoformat()}.")
        if not minimum and value > bound:
            raise forms.ValidationError(f"The date must be on or before {bound.isoformat()}.")

    return check


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def condition_met(rule: dict[str, Any], value: Any) -> bool:
    """Whether a ``show_when`` rule holds for the controlling field's cleaned ``value``."""
    if rule.get("not_empty"):
        return not _is_empty(value)
    expected = rule.get("equals")
    if isinstance(value, bool):
        return value == (expected is True or str(expected).lower() in ("true", "on", "1"))
    if isinstance(value, list | tuple):
        return str(expected) in {str(item) for item in value}
    if value is None:
        return expected in (None, "")
    return str(value) == str(expected)


class DefinitionForm(forms.Form):
    """Base of the generated forms; ``definition_fields`` is set by build_form_class."""

    definition: FormDefinition
    definition_fields: list[FormField]

    def __init__(
        self,
        *args: Any,
        transaction_choices: Sequence[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if transaction_choices is not None:
            for spec in self.definition_fields:
                if spec.type == FieldType.TRANSACTION_PICKER:
                    field = self.fields[spec.key]
                    field.choices = [EMPTY_CHOICE, *transaction_choices]  # type: ignore[attr-defined]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(*(self._wrapped(spec) for spec in self.definition_fields))

    @staticmethod
    def _wrapped(spec: FormField) -> Div:
        attrs: dict[str, str] = {"data_field_key": spec.key}
        rule = spec.show_when or {}
        if rule:
            attrs["data_show_when_field"] = str(rule.get("field", ""))
            if rule.get("not_empty"):
                attrs["data_show_when_not_empty"] = "true"
            else:
                equals = rule.get("equals")
                attrs["data_show_when_equals"] = (
                    str(equals).lower() if isinstance(equals, bool) else str(equals)
                )
            if spec.required:
                attrs["data_required_when_shown"] = "true"
        return Div(Field(spec.key), css_class="portal-form-field", **attrs)

    def visible_keys(self, data: dict[str, Any]) -> set[str]:
        """Keys of the fields shown for ``data``: a field under a hidden field is hidden too."""
        visible: set[str] = set()
        for spec in self.definition_fields:
            rule = spec.show_when
            controller = rule.get("field") if rule else None
            if not rule or (controller in visible and condition_met(rule, data.get(controller))):
                visible.add(spec.key)
        return visible

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        visible = self.visible_keys(cleaned)
        for spec in self.definition_fields:
            if spec.key not in visible:
                # Hidden: not required, its value (and any error on it) is dropped.
                cleaned.pop(spec.key, None)
                self.errors.pop(spec.key, None)
            elif (
                spec.required
                and spec.show_when
                and spec.key not in self.errors
                and _is_empty(cleaned.get(spec.key))
            ):
                self.add_error(spec.key, forms.ValidationError("This field is required."))
        return cleaned


def build_form_class(
    definition: FormDefinition,
    transaction_choices: Sequence[tuple[str, str]] = (),
) -> type[DefinitionForm]:
    """A form class for ``definition``; ``transaction_choices`` fill transaction pickers."""
    specs = sorted(definition.fields.all(), key=lambda f: (f.order, f.pk or 0))
    attrs: dict[str, Any] = {spec.key: make_field(spec, transaction_choices) for spec in specs}
    attrs["definition"] = definition
    attrs["definition_fields"] = specs
    name = "".join(part.capitalize() for part in definition.slug.split("-")) or "Definition"
    return type(f"{name}V{definition.version}Form", (DefinitionForm,), attrs)


def post_data(definition: FormDefinition, params: Any) -> dict[str, Any]:
    """The definition's values out of a POST (lists for multiple choice, booleans for boxes)."""
    data: dict[str, Any] = {}
    for spec in definition.fields.all():
        if spec.type == FieldType.FILE:
            continue
        if spec.type == FieldType.MULTI_CHOICE:
            data[spec.key] = params.getlist(spec.key)
        elif spec.type == FieldType.CHECKBOX:
            data[spec.key] = spec.key in params and params.get(spec.key) not in ("", "false", "off")
        else:
            data[spec.key] = params.get(spec.key, "")
    return data
