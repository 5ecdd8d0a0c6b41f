"""definition_validate: keys, rules, visibility and bindings are checked with clear messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from forms_app.bindings import SUPPORTED_BINDINGS
from forms_app.models import FormDefinition, FormField
from forms_app.validation import definition_validate

pytestmark = pytest.mark.django_db


def _errors(fields: list[dict[str, Any]], **definition: Any) -> dict[str, list[str]]:
    form = FormDefinition(slug="x", title="X", **definition)
    rows = [FormField(order=i, **spec) for i, spec in enumerate(fields)]
    with pytest.raises(ValidationError) as caught:
        definition_validate(form, rows)
    return caught.value.message_dict


def _ok(fields: list[dict[str, Any]]) -> None:
    form = FormDefinition(slug="x", title="X")
    definition_validate(form, [FormField(order=i, **spec) for i, spec in enumerate(fields)])


def test_supported_bindings_cover_what_the_seeded_forms_use() -> None:
    from forms_app.demo import DEMO_FORMS

    used = {f["binding"] for form in DEMO_FORMS for f in form["fields"] if f.get("binding")}
    assert used <= set(SUPPORTED_BINDINGS)
    assert {"customer.full_name", "account.card_last4", "transaction.amount"} <= used


def test_a_valid_definition_passes() -> None:
    _ok(
        [
            {"key": "name", "label": "Name", "type": "text", "binding": "customer.full_name"},
            {"key": "kind", "label": "Kind", "type": "choice", "choices": [["a", "A"]]},
            {
                "key": "more",
                "label": "More",
                "type": "text",
                "show_when": {"field": "kind", "equals": "a"},
            },
        ]
    )


def test_duplicate_and_invalid_keys() -> None:
    errors = _errors(
        [
            {"key": "name", "label": "Name", "type": "text"},
            {"key": "name", "label": "Again", "type": "text"},
            {"key": "Bad Key", "label": "Bad", "type": "text"},
        ]
    )
    assert "used by more than one field" in " ".join(errors["name"])
    assert "not a valid key" in " ".join(errors["Bad Key"])


def test_bad_regex_and_min_greater_than_max() -> None:
    errors = _errors(
        [
            {"key": "code", "label": "Code", "type": "text", "validation": {"regex": "([a-z"}},
            {
                "key": "amount",
                "label": "Amount",
                "type": "money",
                "validation": {"min": 10, "max": 1},
            },
            {
                "key": "when",
                "label": "When",
                "type": "date",
                "validation": {"min": "2025-02-01", "max": "2025-01-01"},
            },
        ]
    )
    assert "regex is not valid" in errors["code"][0]
    assert errors["amount"] == ["min is greater than max."]
    assert errors["when"] == ["min is greater than max."]


def test_choice_without_choices() -> None:
    errors = _errors([{"key": "pick", "label": "Pick", "type": "choice"}])
    assert "at least one choice" in errors["pick"][0]


def test_show_when_unknown_or_later_field() -> None:
    errors = _errors(
        [
            {
                "key": "a",
                "label": "A",
                "type": "text",
                "show_when": {"field": "b", "not_empty": True},
            },
            {"key": "b", "label": "B", "type": "text"},
            {
                "key": "c",
                "label": "C",
                "type": "text",
                "show_when": {"field": "nope", "equals": "x"},
            },
        ]
    )
    assert "not an earlier field" in errors["a"][0]
    assert "“nope”" in errors["c"][0]


def test_show_when_equals_must_be_a_choice() -> None:
    errors = _errors(
        [
            {"key": "r", "label": "R", "type": "choice", "choices": [["x", "X"]]},
            {"key": "o", "label": "O", "type": "text", "show_when": {"field": "r", "equals": "y"}},
        ]
    )
    assert "not a choice" in errors["o"][0]


def test_bad_bindings() -> None:
    errors = _errors(
        [
            {"key": "a", "label": "A", "type": "text", "binding": "customer.shoe_size"},
            {"key": "b", "label": "B", "type": "money", "binding": "transaction.amount"},
            {"key": "c", "label": "C", "type": "checkbox", "binding": "customer.full_name"},
            {"key": "d", "label": "D", "type": "text", "binding": "customer.date_of_birth"},
        ]
    )
    assert "not a supported binding" in errors["a"][0]
    assert "needs a transaction picker" in errors["b"][0]
    assert "cannot be bound" in errors["c"][0]
    assert "cannot be bound" in errors["d"][0]


def test_transaction_bindings_with_a_picker() -> None:
    _ok(
        [
            {"key": "t", "label": "T", "type": "transaction_picker", "binding": "transaction.id"},
            {"key": "amount", "label": "Amount", "type": "money", "binding": "transaction.amount"},
        ]
    )


def test_unknown_roles() -> None:
    errors = _errors([{"key": "a", "label": "A", "type": "text"}], fill_roles=["wizard"])
    assert "wizard" in errors["fill_roles"][0]


def test_create_refuses_an_invalid_definition(make_definition: Callable[..., Any]) -> None:
    with pytest.raises(ValidationError):
        make_definition([{"key": "a", "label": "A", "type": "text", "validation": {"regex": "("}}])
    assert not FormDefinition.objects.exists()


def test_reserved_slugs_are_refused() -> None:
    from django.core.exceptions import ValidationError

    from forms_app.models import FormDefinition
    from forms_app.validation import definition_validate

    with pytest.raises(ValidationError, match="reserved"):
        definition_validate(FormDefinition(slug="reviews", title="R"), fields=[])
