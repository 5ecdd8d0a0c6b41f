"""Form definitions in the admin: validation, publishing and revisions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from forms_app.models import DefinitionStatus, FormDefinition
from portal.models import AuditEvent
from portal.permissions import Role
from tests.forms_app.test_submissions import world  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.django_db


def _inline(prefix: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        defaults = {
            "order": str(i),
            "type": "text",
            "sensitivity": "normal",
            "choices": "[]",
            "validation": "{}",
            "show_when": "{}",
        }
        for name, value in {**defaults, **row}.items():
            data[f"{prefix}-{i}-{name}"] = value
    return data


def test_admin_validates_publishes_and_revises(client: Client, make_user: Any) -> None:
    admin_user = make_user("boss", Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    base = {"slug": "kyc", "title": "KYC", "description": "", "fill_roles": ["agent"]}
    bad = _inline(
        "fields",
        [
            {"key": "a", "label": "A", "binding": "customer.shoe_size"},
            {"key": "b", "label": "B", "validation": '{"regex": "("}'},
        ],
    )
    response = client.post("/admin/forms_app/formdefinition/add/", {**base, **bad})
    assert response.status_code == 200
    body = response.content.decode()
    assert "not a supported binding" in body and "regex is not valid" in body
    assert not FormDefinition.objects.exists()

    good = _inline("fields", [{"key": "a", "label": "A", "binding": "customer.full_name"}])
    response = client.post("/admin/forms_app/formdefinition/add/", {**base, **good})
    assert response.status_code == 302, response.content.decode()[:3000]
    draft = FormDefinition.objects.get(slug="kyc")
    assert (draft.version, draft.status) == (1, DefinitionStatus.DRAFT)
    assert draft.fields.get().binding == "customer.full_name"

    changelist = "/admin/forms_app/formdefinition/"
    assert "/forms/kyc/preview/?version=1" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "publish", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == DefinitionStatus.PUBLISHED
    client.post(changelist, {"action": "create_new_version", "_selected_action": [draft.pk]})
    assert FormDefinition.objects.get(slug="kyc", version=2).status == DefinitionStatus.DRAFT
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "form_definition.created",
        "form_definition.published",
        "form_definition.revised",
    }


# The admin applies the forms policy ---------------------------------------------------
# Model permissions only open the admin pages; which rows a user sees and may change is
# the policy's (forms_app/permissions.py), as in the portal.


def _grant(user: Any, *codenames: str) -> Any:
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_only_content_managers_and_admins_manage_definitions(make_user: Any) -> None:
    from forms_app.services import definition_create

    draft = definition_create(
        actor=None, slug="kyc", title="KYC", fields=[], fill_roles=["agent"], review_roles=[]
    )
    url = f"/admin/forms_app/formdefinition/{draft.pk}/"
    # A supervisor with staff access and (mistakenly granted) model permissions.
    supervisor = _grant(
        make_user("staff_sup", Role.SUPERVISOR, is_staff=True),
        "view_formdefinition",
        "change_formdefinition",
        "delete_formdefinition",
    )
    web = _client(supervisor)
    assert web.get("/admin/forms_app/formdefinition/").status_code == 403
    assert web.get(f"{url}change/").status_code in (302, 403)
    assert web.post(f"{url}change/", {"title": "Mine"}).status_code in (302, 403)
    assert web.post(f"{url}delete/", {"post": "yes"}).status_code in (302, 403)
    draft.refresh_from_db()
    assert draft.title == "KYC"

    content = make_user("staff_content", Role.CONTENT_MANAGER, is_staff=True)
    assert "KYC" in _client(content).get("/admin/forms_app/formdefinition/").content.decode()


def test_admin_lists_only_the_submissions_the_policy_shows(
    make_user: Any,
    world: Any,  # noqa: F811
) -> None:
    from forms_app.models import FormSubmission
    from forms_app.selectors import definition_get
    from forms_app.services import (
        definition_create,
        definition_publish,
        submission_create_draft,
        submission_submit,
    )

    definition = definition_create(
        actor=None,
        slug="note",
        title="Note",
        fields=[{"key": "note", "label": "Note", "type": "text"}],
        fill_roles=["agent"],
        review_roles=["supervisor"],
    )
    definition_publish(actor=None, definition=definition)

    def fill(agent: Any, customer: Any, submit: bool) -> FormSubmission:
        draft = submission_create_draft(
            actor=agent,
            definition=definition_get(agent, "note"),
            customer=customer,
            data={"note": "n"},
        )
        return submission_submit(actor=agent, submission=draft) if submit else draft

    north = fill(world["agent"], world["north_customer"], submit=True)
    north_draft = fill(world["agent"], world["north_customer"], submit=False)
    south = fill(world["south_agent"], world["south_customer"], submit=True)

    def listed(user: Any) -> set[int]:
        web = _client(_grant(user, "view_formsubmission"))
        shown = set()
        for submission in (north, north_draft, south):
            url = f"/admin/forms_app/formsubmission/{submission.pk}/change/"
            response = web.get(url)
            assert response.status_code in (200, 302), url
            if response.status_code == 200:
                shown.add(submission.pk)
        body = web.get("/admin/forms_app/formsubmission/").content.decode()
        in_list = {s.pk for s in (north, north_draft, south) if f"/{s.pk}/change/" in body}
        assert in_list == shown
        return shown

    staff = {"is_staff": True}
    north_region = world["north_customer"].region
    supervisor = make_user("staff_sup", Role.SUPERVISOR, regions=[north_region], **staff)
    assert listed(supervisor) == {north.pk}  # reviewable: submitted, of its region
    assert listed(make_user("staff_content", Role.CONTENT_MANAGER, **staff)) == set()
    # Administrators see customer records in the admin only: every submission there.
    root = make_user("root", Role.ADMIN, is_superuser=True, **staff)
    assert listed(root) == {north.pk, north_draft.pk, south.pk}
