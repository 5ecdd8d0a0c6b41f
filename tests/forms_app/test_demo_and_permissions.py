"""The seeded demo forms, and who may fill and manage definitions."""

from __future__ import annotations

from typing import Any

import pytest

from forms_app.demo import DEMO_FORMS, seed_forms
from forms_app.models import DefinitionStatus, FormDefinition
from forms_app.permissions import can_manage_definitions, definitions_fillable_by
from forms_app.schema import definition_json_schema
from forms_app.services import definition_revise
from forms_app.validation import definition_validate
from portal.permissions import Role

pytestmark = pytest.mark.django_db

SLUGS = {"card-dispute", "address-change", "suspicious-activity-referral", "account-closure"}


def test_seed_is_valid_and_idempotent() -> None:
    assert seed_forms() == 4
    assert seed_forms() == 0
    assert FormDefinition.objects.count() == 4
    assert {spec["slug"] for spec in DEMO_FORMS} == SLUGS
    for definition in FormDefinition.objects.all():
        assert definition.status == DefinitionStatus.PUBLISHED
        definition_validate(definition)
        assert definition_json_schema(definition)["properties"]
    dispute = FormDefinition.objects.get(slug="card-dispute")
    assert dispute.review_roles == ["supervisor"]
    bindings = set(dispute.fields.exclude(binding="").values_list("binding", flat=True))
    assert {"customer.full_name", "account.card_last4", "transaction.amount"} <= bindings
    assert FormDefinition.objects.get(slug="suspicious-activity-referral").review_roles == [
        "compliance"
    ]
    narrative = FormDefinition.objects.get(slug="suspicious-activity-referral").fields.get(
        key="narrative"
    )
    assert narrative.sensitivity == "sensitive"


def test_seed_keeps_a_revised_form(seeded: None) -> None:
    dispute = FormDefinition.objects.get(slug="card-dispute")
    definition_revise(actor=None, definition=dispute)
    assert seed_forms() == 0
    assert FormDefinition.objects.filter(slug="card-dispute").count() == 2


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.AGENT, SLUGS),
        (Role.SUPERVISOR, SLUGS),
        (Role.COMPLIANCE, SLUGS),
        (Role.CONTENT_MANAGER, set()),
        (Role.ADMIN, set()),
        (Role.INTEGRATION, set()),
    ],
)
def test_fillable_by_role(seeded: None, make_user: Any, role: Role, expected: set[str]) -> None:
    user = make_user("someone", role)
    assert set(definitions_fillable_by(user).values_list("slug", flat=True)) == expected


def test_fill_roles_filter_and_current_version(seeded: None, make_user: Any) -> None:
    agent = make_user("agent", Role.AGENT)
    FormDefinition.objects.filter(slug="account-closure").update(fill_roles=["supervisor"])
    assert "account-closure" not in set(
        definitions_fillable_by(agent).values_list("slug", flat=True)
    )
    draft = definition_revise(
        actor=None, definition=FormDefinition.objects.get(slug="card-dispute")
    )
    fillable = definitions_fillable_by(agent)
    assert fillable.filter(slug="card-dispute").get().version == 1
    assert not fillable.filter(pk=draft.pk).exists()


def test_can_manage_definitions(make_user: Any) -> None:
    assert can_manage_definitions(make_user("cm", Role.CONTENT_MANAGER))
    assert can_manage_definitions(make_user("ad", Role.ADMIN))
    assert not can_manage_definitions(make_user("ag", Role.AGENT))
    assert not can_manage_definitions(make_user("su", Role.SUPERVISOR))
