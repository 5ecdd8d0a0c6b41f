"""Versions: revising a published form makes a draft; publishing it makes it current."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from forms_app.models import DefinitionStatus, FormDefinition
from forms_app.permissions import current_definitions
from forms_app.services import definition_publish, definition_revise
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

FIELDS = [
    {"key": "name", "label": "Name", "type": "text", "required": True},
    {"key": "why", "label": "Why", "type": "choice", "choices": [["a", "A"], ["b", "B"]]},
]


def test_revise_publish_cycle(make_definition: Callable[..., Any], make_user: Any) -> None:
    editor = make_user("editor", "content_manager")
    v1 = make_definition(FIELDS, publish=True)
    assert v1.version == 1 and v1.status == DefinitionStatus.PUBLISHED
    assert list(current_definitions()) == [v1]

    v2 = definition_revise(actor=editor, definition=v1)
    assert (v2.version, v2.status, v2.slug) == (2, DefinitionStatus.DRAFT, v1.slug)
    assert [f.key for f in v2.fields.all()] == ["name", "why"]
    # The draft is editable and independent from v1.
    v2.fields.filter(key="name").update(label="Full name")
    v1.refresh_from_db()
    assert v1.status == DefinitionStatus.PUBLISHED
    assert v1.fields.get(key="name").label == "Name"
    assert list(current_definitions()) == [v1]  # a draft never becomes current

    with pytest.raises(ValidationError, match="already a draft"):
        definition_revise(actor=editor, definition=v1)
    with pytest.raises(ValidationError, match="Only a published"):
        definition_revise(actor=editor, definition=v2)

    definition_publish(actor=editor, definition=v2)
    assert list(current_definitions()) == [FormDefinition.objects.get(pk=v2.pk)]
    assert FormDefinition.objects.get(pk=v1.pk).status == DefinitionStatus.PUBLISHED
    with pytest.raises(ValidationError, match="already published"):
        definition_publish(actor=editor, definition=v2)

    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == [
        "form_definition.created",
        "form_definition.published",
        "form_definition.revised",
        "form_definition.published",
    ]


def test_publish_revalidates(make_definition: Callable[..., Any]) -> None:
    draft = make_definition(FIELDS)
    draft.fields.filter(key="why").update(choices=[])
    with pytest.raises(ValidationError):
        definition_publish(actor=None, definition=draft)
    draft.refresh_from_db()
    assert draft.status == DefinitionStatus.DRAFT
