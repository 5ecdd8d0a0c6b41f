"""Role groups from the data migration and the permission policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from portal.models import Region
from portal.permissions import (
    ROLE_ACTIONS,
    Action,
    Role,
    can,
    region_filter,
    regions_visible_to,
    user_roles,
)

CONTENT_MANAGER_ADMIN = {
    "knowledge.view_collection",
    "knowledge.add_collection",
    "knowledge.change_collection",
    "knowledge.view_document",
    "knowledge.add_document",
    "knowledge.change_document",
    "knowledge.delete_document",
    "knowledge.view_chunk",
    "knowledge.view_goldenquestion",
    "knowledge.add_goldenquestion",
    "knowledge.change_goldenquestion",
    "knowledge.delete_goldenquestion",
    "forms_app.view_formdefinition",
    "forms_app.add_formdefinition",
    "forms_app.change_formdefinition",
    "forms_app.view_formfield",
    "forms_app.add_formfield",
    "forms_app.change_formfield",
    "forms_app.delete_formfield",
}


def _grants(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


@pytest.mark.django_db
def test_migration_creates_every_role_group() -> None:
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.value for role in Role} <= names
    assert _grants("content_manager") == CONTENT_MANAGER_ADMIN
    assert not any(_grants(role.value) for role in Role if role is not Role.CONTENT_MANAGER)


@pytest.mark.django_db
def test_every_migrate_brings_deleted_role_groups_back_with_their_grants() -> None:
    """After a migrate (or a flush: both send post_migrate) the groups are as the code says,
    even if someone deleted one by hand; extra permissions given by hand are left alone."""
    from django.contrib.auth.models import Permission
    from django.core.management.sql import emit_post_migrate_signal

    Group.objects.filter(name__in=["content_manager", "agent"]).delete()
    Group.objects.get(name="admin").permissions.add(
        Permission.objects.get(codename="view_region", content_type__app_label="portal")
    )
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert {role.value for role in Role} <= set(Group.objects.values_list("name", flat=True))
    assert _grants("content_manager") == CONTENT_MANAGER_ADMIN
    assert _grants("admin") == {"portal.view_region"}


def test_every_role_has_a_policy() -> None:
    assert set(ROLE_ACTIONS) == set(Role)
    assert Action.USE_PORTAL not in ROLE_ACTIONS[Role.INTEGRATION]
    assert Action.VIEW_CUSTOMERS not in ROLE_ACTIONS[Role.CONTENT_MANAGER]


@pytest.mark.django_db
def test_roles_and_actions(make_user: Any) -> None:
    agent = make_user("a1", Role.AGENT)
    compliance = make_user("c1", Role.COMPLIANCE)
    nobody = make_user("n1")
    superuser = make_user("root", is_superuser=True)
    assert user_roles(agent) == {Role.AGENT}
    assert can(agent, Action.VIEW_CUSTOMERS)
    assert not can(agent, Action.VIEW_AUDIT)
    assert can(compliance, Action.VIEW_AUDIT)
    assert not can(nobody, Action.USE_PORTAL)
    assert Role.ADMIN in user_roles(superuser)
    nobody.is_active = False
    assert user_roles(nobody) == frozenset()


@pytest.mark.django_db
def test_region_filter_is_sql_and_scoped(make_user: Any, regions: dict[str, Region]) -> None:
    north_agent = make_user("na", Role.AGENT, regions=[regions["north"]])
    compliance = make_user("cc", Role.COMPLIANCE)
    content = make_user("cm", Role.CONTENT_MANAGER)
    nobody = make_user("nb")

    # Region rows themselves are records "tagged" with their own id.
    def visible(user: Any) -> set[str]:
        rows = Region.objects.filter(region_filter(user, field="id"))
        return set(rows.values_list("code", flat=True))

    assert visible(north_agent) == {"north"}
    assert visible(compliance) == {"north", "south"}
    assert visible(content) == set()  # serves no region
    assert visible(nobody) == set()
    assert set(regions_visible_to(north_agent).values_list("code", flat=True)) == {"north"}
    assert "WHERE" in str(Region.objects.filter(region_filter(north_agent, field="id")).query)
