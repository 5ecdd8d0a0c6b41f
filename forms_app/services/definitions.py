"""Writes of smart-form definitions: create, publish and revise (new draft version)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from forms_app.models import DefinitionStatus, FormDefinition, FormField
from forms_app.validation import definition_validate
from portal.services import audit_event_record
from portal.types import AnyUser, account_of

__all__ = [
    "definition_create",
    "definition_publish",
    "definition_revise",
    "definition_validate",
]

FIELD_ATTRIBUTES = (
    "order",
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
)


def _next_version(slug: str) -> int:
    highest = FormDefinition.objects.filter(slug=slug).aggregate(v=Max("version"))["v"]
    return (highest or 0) + 1


def _build_fields(
    definition: FormDefinition, specs: Iterable[Mapping[str, Any]]
) -> list[FormField]:
    fields = []
    for position, spec in enumerate(specs, start=1):
        unknown = set(spec) - set(FIELD_ATTRIBUTES)
        if unknown:
            raise ValidationError(
                {spec.get("key") or f"field {position}": f"Unknown attribute(s): {sorted(unknown)}"}
            )
        values = {"order": position * 10, **spec}
        fields.append(FormField(definition=definition, **values))
    return fields


@transaction.atomic
def definition_create(
    *,
    actor: AnyUser | None,
    slug: str,
    title: str,
    fields: Iterable[Mapping[str, Any]],
    description: str = "",
    fill_roles: Iterable[str] = (),
    review_roles: Iterable[str] = (),
    customer_reauthentication: bool = False,
) -> FormDefinition:
    """Create a draft definition (the next version of ``slug``) with its fields."""
    definition = FormDefinition(
        slug=slug,
        title=title,
        description=description,
        version=_next_version(slug),
        status=DefinitionStatus.DRAFT,
        fill_roles=sorted(set(fill_roles)),
        review_roles=sorted(set(review_roles)),
        customer_reauthentication=customer_reauthentication,
        created_by=account_of(actor),
    )
    definition.full_clean()
    field_rows = _build_fields(definition, fields)
    definition_validate(definition, field_rows)
    definition.save()
    for field in field_rows:
        field.definition = definition
        field.full_clean()
        field.save()
    audit_event_record(
        action="form_definition.created",
        actor=actor,
        actor_username="" if actor else "system",
        target=definition,
        details={"slug": slug, "version": definition.version, "fields": len(field_rows)},
    )
    return definition


@transaction.atomic
def definition_publish(*, actor: AnyUser | None, definition: FormDefinition) -> FormDefinition:
    """Publish a draft: it becomes the current version of its slug when it is the highest."""
    definition = FormDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.status == DefinitionStatus.PUBLISHED:
        raise ValidationError(f"Version {definition.version} is already published.")
    definition_validate(definition)
    if not definition.fields.exists():
        raise ValidationError("A form without fields cannot be published.")
    definition.status = DefinitionStatus.PUBLISHED
    definition.published_at = timezone.now()
    definition.full_clean()
    definition.save(update_fields=["status", "published_at", "updated_at"])
    audit_event_record(
        action="form_definition.published",
        actor=actor,
        actor_username="" if actor else "system",
        target=definition,
        details={"slug": definition.slug, "version": definition.version},
    )
    return definition


@transaction.atomic
def definition_revise(*, actor: AnyUser, definition: FormDefinition) -> FormDefinition:
    """Start editing a published definition: a new draft version with a copy of its fields.

    The published version is left untouched, so whatever references it keeps its meaning.
    """
    if definition.status != DefinitionStatus.PUBLISHED:
        raise ValidationError("Only a published version is revised; edit the draft instead.")
    # Lock the slug's rows so two revisions cannot take the same version number.
    versions = FormDefinition.objects.select_for_update().filter(slug=definition.slug)
    newer_draft = versions.filter(
        status=DefinitionStatus.DRAFT, version__gt=definition.version
    ).first()
    if newer_draft is not None:
        raise ValidationError(
            f"Version {newer_draft.version} of “{definition.slug}” is already a draft: edit it."
        )
    revision = FormDefinition(
        slug=definition.slug,
        title=definition.title,
        description=definition.description,
        version=_next_version(definition.slug),
        status=DefinitionStatus.DRAFT,
        fill_roles=list(definition.fill_roles),
        review_roles=list(definition.review_roles),
        customer_reauthentication=definition.customer_reauthentication,
        created_by=account_of(actor),
    )
    revision.full_clean()
    revision.save()
    for field in definition.fields.all():
        copy = FormField(
            definition=revision, **{name: getattr(field, name) for name in FIELD_ATTRIBUTES}
        )
        copy.full_clean()
        copy.save()
    audit_event_record(
        action="form_definition.revised",
        actor=actor,
        actor_username="" if actor else "system",
        target=revision,
        details={
            "slug": revision.slug,
            "from_version": definition.version,
            "version": revision.version,
        },
    )
    return revision
