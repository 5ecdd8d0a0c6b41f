"""Reads of form definitions, always starting from what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from forms_app.models import FormDefinition, FormField
from forms_app.permissions import can_manage_definitions, definitions_fillable_by


def _with_fields(queryset: QuerySet[FormDefinition]) -> QuerySet[FormDefinition]:
    return queryset.prefetch_related(
        Prefetch("fields", queryset=FormField.objects.order_by("order", "pk"))
    )


def definition_list(user: Any) -> QuerySet[FormDefinition]:
    """The current definitions ``user`` may fill, by title."""
    return definitions_fillable_by(user).order_by("title", "slug")


def definition_get(user: Any, slug: str) -> FormDefinition:
    """The current version of ``slug`` for filling; DoesNotExist when missing or not allowed."""
    return _with_fields(definitions_fillable_by(user)).get(slug=slug)


def definition_get_for_preview(user: Any, slug: str, version: int | None = None) -> FormDefinition:
    """Any version of ``slug`` (default: the highest) for definition managers only."""
    if not can_manage_definitions(user):
        raise FormDefinition.DoesNotExist
    versions = _with_fields(FormDefinition.objects.filter(slug=slug))
    if version is not None:
        return versions.get(version=version)
    found = versions.order_by("-version").first()
    if found is None:
        raise FormDefinition.DoesNotExist
    return found
