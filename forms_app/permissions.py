"""Who may fill and who may manage form definitions: built on portal.permissions, in SQL."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from forms_app.models import DefinitionStatus, FormDefinition
from portal.permissions import Action, Role, can, has_role, user_roles


def current_definitions() -> QuerySet[FormDefinition]:
    """The current version of every slug: published, with no higher published version."""
    higher = FormDefinition.objects.filter(
        slug=OuterRef("slug"),
        status=DefinitionStatus.PUBLISHED,
        version__gt=OuterRef("version"),
    )
    return FormDefinition.objects.filter(status=DefinitionStatus.PUBLISHED).filter(~Exists(higher))


def definitions_fillable_by(user: Any) -> QuerySet[FormDefinition]:
    """Current definitions whose fill roles include one of ``user``'s roles."""
    roles = sorted(role.value for role in user_roles(user))
    if not roles or not can(user, Action.FILL_FORMS):
        return FormDefinition.objects.none()
    return current_definitions().filter(fill_roles__overlap=roles)


def can_fill_definition(user: Any, definition: FormDefinition) -> bool:
    return definitions_fillable_by(user).filter(pk=definition.pk).exists()


def can_manage_definitions(user: Any) -> bool:
    """Content managers and admins write and preview definitions."""
    return can(user, Action.MANAGE_CONTENT) or has_role(user, Role.ADMIN)
