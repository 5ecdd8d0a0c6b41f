"""Checks of a definition as a whole: keys, validation rules, visibility and bindings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from forms_app.bindings import SUPPORTED_BINDINGS
from forms_app.models import FieldType, FormDefinition, FormField
from portal.permissions import STAFF_ROLES

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VALIDATION_KEYS = frozenset({"regex", "min", "max", "max_length"})
CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE})
NUMBER_TYPES = frozenset({FieldType.DECIMAL, FieldType.MONEY})
# Which field types a binding may fill, where the answer is obvious from the path.
BINDING_TYPES: dict[str, frozenset[str]] = {
    "customer.email": frozenset({FieldType.EMAIL, FieldType.TEXT}),
    "customer.phone": frozenset({FieldType.PHONE, FieldType.TEXT}),
    "customer.address": frozenset({FieldType.TEXT, FieldType.TEXTAREA}),
    "customer.date_of_birth": frozenset({FieldType.DATE}),
    "transaction.id": frozenset({FieldType.TRANSACTION_PICKER, FieldType.TEXT}),
    "transaction.amount": frozenset({FieldType.MONEY, FieldType.DECIMAL}),
    "transaction.posted_date": frozenset({FieldType.DATE}),
}
UNBINDABLE_TYPES = frozenset({FieldType.FILE, FieldType.CHECKBOX, FieldType.MULTI_CHOICE})


def _as_bound(value: Any, field_type: str) -> Decimal | date | None:
    """A min/max bound as a number (or an ISO date for date fields); None when invalid."""
    if isinstance(value, bool):
        return None
    if field_type == FieldType.DATE:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _check_validation(field: FormField, add: Any) -> None:
    rules = field.validation
    if not isinstance(rules, dict):
        add("validation must be an object with regex, min, max or max_length.")
        return
    unknown = sorted(set(rules) - VALIDATION_KEYS)
    if unknown:
        add(f"unknown validation rule(s): {', '.join(unknown)}.")
    if "regex" in rules:
        try:
            re.compile(str(rules["regex"]))
        except re.error as error:
            add(f"the regex is not valid: {error}.")
    if "max_length" in rules:
        length = rules["max_length"]
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            add("max_length must be a positive whole number.")
    bounds = {}
    for name in ("min", "max"):
        if name in rules:
            if field.type not in NUMBER_TYPES | {FieldType.DATE}:
                add(f"{name} applies to number, money and date fields only.")
                continue
            bound = _as_bound(rules[name], field.type)
            if bound is None:
                what = "an ISO date (YYYY-MM-DD)" if field.type == FieldType.DATE else "a number"
                add(f"{name} must be {what}.")
            else:
                bounds[name] = bound
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:  # type: ignore[operator]
        add("min is greater than max.")


def _check_choices(field: FormField, add: Any) -> None:
    choices = field.choices
    if field.type in CHOICE_TYPES and not choices:
        add("a choice field needs at least one choice.")
        return
    if not isinstance(choices, list):
        add("choices must be a list of [value, label] pairs.")
        return
    values = []
    for choice in choices:
        if (
            not isinstance(choice, list | tuple)
            or len(choice) != 2
            or not all(isinstance(part, str) and part for part in choice)
        ):
            add(f"choice {choice!r} is not a [value, label] pair of texts.")
            return
        values.append(choice[0])
    if len(values) != len(set(values)):
        add("choice values must be unique.")


def _check_show_when(field: FormField, earlier: dict[str, FormField], add: Any) -> None:
    rule = field.show_when
    if not rule:
        return
    if not isinstance(rule, dict) or "field" not in rule:
        add(
            'show_when must be {"field": key, "equals": value} '
            'or {"field": key, "not_empty": true}.'
        )
        return
    conditions = {"equals", "not_empty"} & set(rule)
    if len(conditions) != 1 or set(rule) - {"field", "equals", "not_empty"}:
        add('show_when needs "field" and exactly one of "equals" or "not_empty".')
    if "not_empty" in rule and rule["not_empty"] is not True:
        add('show_when "not_empty" must be true.')
    target = rule["field"]
    if target == field.key:
        add("show_when cannot refer to the field itself.")
    elif target not in earlier:
        add(f"show_when refers to “{target}”, which is not an earlier field of this form.")
    elif "equals" in rule and earlier[target].type in CHOICE_TYPES:
        values = {str(choice[0]) for choice in earlier[target].choices if len(choice) == 2}
        if str(rule["equals"]) not in values:
            add(f"show_when equals “{rule['equals']}”, which is not a choice of “{target}”.")


def _check_binding(field: FormField, has_picker: bool, add: Any) -> None:
    binding = field.binding
    if not binding:
        return
    if binding not in SUPPORTED_BINDINGS:
        add(f"“{binding}” is not a supported binding. Supported: {', '.join(SUPPORTED_BINDINGS)}.")
        return
    if binding.startswith("transaction.") and not has_picker:
        add(f"“{binding}” needs a transaction picker field on the form.")
    allowed = BINDING_TYPES.get(binding)
    if field.type in UNBINDABLE_TYPES or (allowed is not None and field.type not in allowed):
        add(f"a {field.type} field cannot be bound to “{binding}”.")


# Pages of their own under /forms/ (see forms_app/urls.py).
RESERVED_SLUGS = frozenset({"submissions", "reviews"})


def definition_validate(
    definition: FormDefinition, fields: Iterable[FormField] | None = None
) -> None:
    """Check a definition and its fields (stored ones unless given); raises ValidationError.

    Messages are keyed by the form field's key (or ``field N`` when the key is unusable),
    and by ``fill_roles``/``review_roles`` for the definition itself.
    """
    errors: dict[str, list[str]] = {}
    if definition.slug in RESERVED_SLUGS:
        errors["slug"] = [f"“{definition.slug}” is a reserved address; choose another slug."]
    role_names = {role.value for role in STAFF_ROLES}
    for name in ("fill_roles", "review_roles"):
        unknown = sorted(set(getattr(definition, name) or []) - role_names)
        if unknown:
            errors.setdefault(name, []).append(f"Unknown role(s): {', '.join(unknown)}.")
    if fields is None:
        fields = list(definition.fields.all()) if definition.pk else []
    ordered = sorted(fields, key=lambda f: f.order)
    has_picker = any(f.type == FieldType.TRANSACTION_PICKER for f in ordered)
    earlier: dict[str, FormField] = {}
    for position, field in enumerate(ordered, start=1):
        label = field.key if field.key else f"field {position}"

        def add(message: str, label: str = label) -> None:
            errors.setdefault(label, []).append(message)

        if not KEY_PATTERN.match(field.key or ""):
            add(
                f"“{field.key}” is not a valid key: lowercase letters, digits and underscores, "
                "starting with a letter (at most 64)."
            )
        elif field.key in earlier:
            add(f"the key “{field.key}” is used by more than one field.")
        if field.type not in FieldType.values:
            add(f"“{field.type}” is not a field type.")
        if not (field.label or "").strip():
            add("a label is required.")
        _check_validation(field, add)
        _check_choices(field, add)
        _check_show_when(field, earlier, add)
        _check_binding(field, has_picker, add)
        if field.key and field.key not in earlier:
            earlier[field.key] = field
    if errors:
        raise ValidationError(errors)
