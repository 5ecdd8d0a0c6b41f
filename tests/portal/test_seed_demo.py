from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from portal.models import Region
from portal.permissions import Role, user_roles

EXPECTED = {
    "agent": ({Role.AGENT}, {"north"}),
    "agent_south": ({Role.AGENT}, {"south"}),
    "supervisor": ({Role.SUPERVISOR}, {"north"}),
    "supervisor_hq": ({Role.SUPERVISOR}, set()),  # works the central hand-off queue
    "compliance": ({Role.COMPLIANCE}, {"north", "south"}),  # sees all regions
    "content": ({Role.CONTENT_MANAGER}, set()),
    "admin": ({Role.ADMIN}, {"north", "south"}),
}


@pytest.mark.django_db
@override_settings(DEMO_PASSWORD="a demo password for tests")
def test_seed_demo_is_idempotent_and_complete() -> None:
    from portal.permissions import regions_visible_to

    User = get_user_model()
    call_command("seed_demo")
    counts = (User.objects.count(), Region.objects.count())
    hashes = dict(User.objects.values_list("username", "password"))
    call_command("seed_demo")
    assert (User.objects.count(), Region.objects.count()) == counts
    # Passwords are not rewritten on a re-run, so sessions survive.
    assert dict(User.objects.values_list("username", "password")) == hashes
    for username, (roles, region_codes) in EXPECTED.items():
        user = User.objects.get(username=username)
        assert user_roles(user) == roles, username
        assert set(regions_visible_to(user).values_list("code", flat=True)) == region_codes
        assert user.check_password("a demo password for tests")


@pytest.mark.django_db
@override_settings(DEMO_PASSWORD="a demo password for tests")
@pytest.mark.parametrize("username", list(EXPECTED))
def test_each_demo_user_signs_in_and_sees_their_dashboard(username: str) -> None:
    call_command("seed_demo")
    client = Client()
    response = client.post(
        reverse("login"),
        {"username": username, "password": "a demo password for tests"},
        follow=True,
    )
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == reverse("portal:dashboard")
    body = response.content.decode()
    roles, _ = EXPECTED[username]
    for role in roles:
        assert role.value in body
    assert ("Audit trail" in body) == (username in {"compliance", "admin"})
