"""JSON Schema and the rendered Django forms: field classes, conditional logic, files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from crispy_forms.utils import render_crispy_form
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from jsonschema import Draft202012Validator

from forms_app.forms import build_form_class
from forms_app.schema import definition_json_schema

pytestmark = pytest.mark.django_db

ALL_TYPES: list[dict[str, Any]] = [
    {
        "key": "name",
        "label": "Name",
        "type": "text",
        "required": True,
        "validation": {"max_length": 20, "regex": "^[A-Za-z ]+$"},
        "binding": "customer.full_name",
    },
    {"key": "notes", "label": "Notes", "type": "textarea"},
    {"key": "email", "label": "Email", "type": "email", "binding": "customer.email"},
    {"key": "phone", "label": "Phone", "type": "phone"},
    {"key": "born", "label": "Born", "type": "date", "validation": {"min": "1900-01-01"}},
    {"key": "count", "label": "Count", "type": "decimal", "validation": {"min": 0, "max": 10}},
    {"key": "amount", "label": "Amount", "type": "money", "binding": "transaction.amount"},
    {
        "key": "reason",
        "label": "Reason",
        "type": "choice",
        "required": True,
        "choices": [["lost", "Lost"], ["other", "Other"]],
    },
    {
        "key": "other",
        "label": "Other reason",
        "type": "textarea",
        "required": True,
        "show_when": {"field": "reason", "equals": "other"},
    },
    {"key": "tags", "label": "Tags", "type": "multi_choice", "choices": [["a", "A"], ["b", "B"]]},
    {"key": "agree", "label": "Agree", "type": "checkbox"},
    {
        "key": "tx",
        "label": "Transaction",
        "type": "transaction_picker",
        "binding": "transaction.id",
    },
    {"key": "proof", "label": "Proof", "type": "file"},
]


@pytest.fixture
def definition(make_definition: Callable[..., Any]) -> Any:
    return make_definition(ALL_TYPES, publish=True)


def test_json_schema(definition: Any) -> None:
    schema = definition_json_schema(definition)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    props = schema["properties"]
    assert list(props) == [spec["key"] for spec in ALL_TYPES]
    assert props["name"] == {
        "title": "Name",
        "type": "string",
        "pattern": "^[A-Za-z ]+$",
        "maxLength": 20,
        "x-binding": "customer.full_name",
    }
    assert props["email"]["format"] == "email"
    assert props["born"]["format"] == "date"
    assert (props["count"]["minimum"], props["count"]["maximum"]) == (0, 10)
    assert props["amount"]["type"] == "number"
    assert props["reason"]["enum"] == ["lost", "other"]
    assert props["tags"]["items"]["enum"] == ["a", "b"]
    assert props["agree"]["type"] == "boolean"
    assert props["other"]["x-show-when"] == {"field": "reason", "equals": "other"}
    assert schema["required"] == ["name", "reason"]  # "other" is conditional
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"name": "Ann", "reason": "lost"})
    assert not validator.is_valid({"name": "Ann", "reason": "nope"})
    assert not validator.is_valid({"reason": "lost"})


def test_field_classes_and_crispy_render(definition: Any) -> None:
    form = build_form_class(definition, transaction_choices=[("t1", "Coffee 3.50")])()
    expected = {
        "name": forms.CharField,
        "notes": forms.CharField,
        "email": forms.EmailField,
        "phone": forms.CharField,
        "born": forms.DateField,
        "count": forms.DecimalField,
        "amount": forms.DecimalField,
        "reason": forms.ChoiceField,
        "other": forms.CharField,
        "tags": forms.MultipleChoiceField,
        "agree": forms.BooleanField,
        "tx": forms.ChoiceField,
        "proof": forms.FileField,
    }
    assert {k: type(v) for k, v in form.fields.items()} == expected
    assert isinstance(form.fields["notes"].widget, forms.Textarea)
    assert isinstance(form.fields["tags"].widget, forms.CheckboxSelectMultiple)
    assert form.fields["name"].required and not form.fields["other"].required
    html = render_crispy_form(form)
    for fragment in (
        'name="name"',
        '<textarea name="notes"',
        'type="email" name="email"',
        'type="tel"',
        'type="date" name="born"',
        'name="count"',
        'name="amount"',
        '<select name="reason"',
        'name="tags" value="a"',
        'type="checkbox" name="agree"',
        '<option value="t1">Coffee 3.50</option>',
        'type="file" name="proof"',
        'data-show-when-field="reason"',
        'data-show-when-equals="other"',
    ):
        assert fragment in html, fragment
    assert "<script" not in html and "style=" not in html


def _post(definition: Any, data: dict[str, Any], files: dict[str, Any] | None = None) -> Any:
    form = build_form_class(definition, transaction_choices=[("t1", "T1")])(data, files or {})
    form.is_valid()
    return form


def test_valid_data_is_cleaned(definition: Any) -> None:
    form = _post(
        definition,
        {
            "name": "Ann Lee",
            "reason": "lost",
            "born": "1980-05-01",
            "amount": "12.50",
            "tags": ["a"],
            "agree": "on",
            "tx": "t1",
            "email": "a@b.example",
        },
    )
    assert form.errors == {}
    data = form.cleaned_data
    assert data["born"] == date(1980, 5, 1)
    assert data["amount"] == Decimal("12.50")
    assert data["agree"] is True
    assert "other" not in data


def test_hidden_field_is_not_required_and_its_value_dropped(definition: Any) -> None:
    form = _post(definition, {"name": "Ann", "reason": "lost", "other": "sneaky"})
    assert form.is_valid(), form.errors
    assert "other" not in form.cleaned_data


def test_shown_required_field_gives_an_error(definition: Any) -> None:
    form = _post(definition, {"name": "Ann", "reason": "other", "other": ""})
    assert form.errors == {"other": ["This field is required."]}
    form = _post(definition, {"name": "Ann", "reason": "other", "other": "Card eaten"})
    assert form.is_valid() and form.cleaned_data["other"] == "Card eaten"


def test_field_validators(definition: Any) -> None:
    form = _post(
        definition,
        {
            "name": "Ann 123",
            "reason": "lost",
            "count": "11",
            "phone": "call me",
            "born": "1800-01-01",
            "email": "nope",
            "tx": "t9",
        },
    )
    assert set(form.errors) == {"name", "count", "phone", "born", "email", "tx"}
    assert build_form_class(definition)().fields["tx"].choices == [("", "—")]


def test_file_type_and_size_are_checked(definition: Any) -> None:
    base = {"name": "Ann", "reason": "lost"}
    fake = SimpleUploadedFile("bill.pdf", b"MZ not a pdf at all", content_type="application/pdf")
    form = _post(definition, base, {"proof": fake})
    assert "proof" in form.errors
    real = SimpleUploadedFile("bill.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    assert _post(definition, base, {"proof": real}).is_valid()
    with override_settings(KNOWLEDGE_MAX_UPLOAD_BYTES=5):
        big = SimpleUploadedFile("bill.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        form = _post(definition, base, {"proof": big})
        assert form.errors["proof"] == ["The file is 15 bytes; the limit is 5 bytes."]


def test_checkbox_and_not_empty_conditions(make_definition: Callable[..., Any]) -> None:
    definition = make_definition(
        [
            {"key": "has_card", "label": "Has card", "type": "checkbox"},
            {
                "key": "card",
                "label": "Card",
                "type": "text",
                "required": True,
                "show_when": {"field": "has_card", "equals": True},
            },
            {
                "key": "detail",
                "label": "Detail",
                "type": "text",
                "required": True,
                "show_when": {"field": "card", "not_empty": True},
            },
        ],
        slug="cond",
    )
    assert _post(definition, {}).is_valid()
    assert set(_post(definition, {"has_card": "on"}).errors) == {"card"}
    assert set(_post(definition, {"has_card": "on", "card": "1234"}).errors) == {"detail"}
    # Unchecking hides "card", and with it "detail" that depends on it.
    form = _post(definition, {"card": "1234", "detail": "x"})
    assert form.is_valid() and form.cleaned_data == {"has_card": False}


def test_the_file_size_limit_is_said_like_the_docs(settings: Any) -> None:
    from forms_app.forms import validate_upload

    upload = SimpleUploadedFile("big.pdf", b"%PDF-1.7\n" + b"0" * 3 * 1024 * 1024)
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    with pytest.raises(forms.ValidationError) as error:
        validate_upload(upload)
    assert error.value.messages == ["The file is 3 MB; the limit is 2 MB."]
