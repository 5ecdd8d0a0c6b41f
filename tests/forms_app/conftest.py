from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from forms_app.models import FormDefinition


@pytest.fixture
def make_definition(db: None) -> Callable[..., FormDefinition]:
    """make_definition(fields=[...], publish=True, slug=..., fill_roles=[...])."""
    from forms_app.services import definition_create, definition_publish

    def _make(
        fields: list[dict[str, Any]],
        *,
        slug: str = "test-form",
        publish: bool = False,
        fill_roles: list[str] | None = None,
        review_roles: list[str] | None = None,
    ) -> FormDefinition:
        definition = definition_create(
            actor=None,
            slug=slug,
            title=slug.replace("-", " ").title(),
            fields=fields,
            fill_roles=fill_roles if fill_roles is not None else ["agent"],
            review_roles=review_roles or ["supervisor"],
        )
        if publish:
            definition = definition_publish(actor=None, definition=definition)
        return definition

    return _make


@pytest.fixture
def seeded(db: None) -> None:
    from forms_app.demo import seed_forms

    seed_forms()
