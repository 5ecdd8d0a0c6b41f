"""Sign-in lockout: per user name regardless of address, and per address at a higher limit.

Pen test finding: with lockout by user name or address and the counters reset on success,
one successful sign-in from an address erased every failure recorded for it, including
other user names'; an attacker guessed 13 times at one account, never locked, by signing in
to their own account in between. And five failures from one address (a branch behind NAT,
a VPN) locked everyone behind it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import AuditEvent
from portal.permissions import Role
from portal.services import api_token_create
from portal.settings import base as base_settings

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _login(username: str, password: str = PASSWORD, ip: str = "10.9.0.1") -> int:
    """One sign-in attempt from a fresh browser; the status code (302 in, 200 refused,
    429 locked out)."""
    response = Client().post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )
    return response.status_code


def test_thresholds_come_from_the_environment() -> None:
    assert base_settings.AXES_FAILURE_LIMIT == 5
    assert base_settings.LOGIN_IP_FAILURE_LIMIT == 50
    assert base_settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert base_settings.AXES_RESET_ON_SUCCESS
    # The per-address count is the handler's (axes.W006 is silenced for that reason).
    assert base_settings.AXES_HANDLER == "portal.lockout.PortalLockoutHandler"


def test_own_sign_ins_in_between_do_not_reset_the_victims_count(make_user: Any) -> None:
    """The exact bypass: guesses at the victim interleaved with the attacker's own sign-ins,
    all from one address."""
    make_user("victim", Role.AGENT)
    make_user("mallory", Role.AGENT)
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert _login("victim", "guess") == 200
        assert _login("mallory") == 302
    response = Client().post(
        reverse("login"), {"username": "victim", "password": "guess"}, REMOTE_ADDR="10.9.0.1"
    )
    assert response.status_code == 429
    assert "too many failed sign-in attempts" in response.content.decode()
    event = AuditEvent.objects.filter(action="auth.locked_out").latest("pk")
    assert event.details == {"username": "victim", "ip_address": "10.9.0.1"}
    # Locked: even the right password, from anywhere; the attacker's own account is not.
    assert _login("victim", ip="10.9.0.1") == 429
    assert _login("victim", ip="10.9.9.9") == 429
    assert _login("mallory") == 302


def test_a_success_resets_only_that_user_names_count(make_user: Any) -> None:
    make_user("alice", Role.AGENT)
    make_user("bob", Role.AGENT)
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert _login("alice", "typo") == 200
        assert _login("bob", "guess", ip="10.9.0.2") == 200
    # Alice signs in (from bob's address too): her own count starts again ...
    assert _login("alice", ip="10.9.0.2") == 302
    for _ in range(limit - 1):
        assert _login("alice", "typo") == 200
    # ... bob's does not.
    assert _login("bob", "guess", ip="10.9.0.2") == 429


def test_colleagues_typos_behind_one_address_do_not_lock_the_branch(make_user: Any) -> None:
    make_user("carol", Role.AGENT)
    branch = "192.0.2.10"  # one NAT address for the whole branch
    limit = settings.AXES_FAILURE_LIMIT
    colleagues = [f"colleague{i}" for i in range(4)]
    for name in colleagues:
        make_user(name, Role.AGENT)
        for _ in range(limit - 1):
            assert _login(name, "typo", ip=branch) == 200
    assert (limit - 1) * len(colleagues) < settings.LOGIN_IP_FAILURE_LIMIT
    assert _login("carol", ip=branch) == 302
    assert not AuditEvent.objects.filter(action="auth.locked_out").exists()


@override_settings(LOGIN_IP_FAILURE_LIMIT=12)
def test_a_spray_from_one_address_locks_that_address(make_user: Any) -> None:
    make_user("dave", Role.AGENT)
    spray = "198.51.100.7"
    for i in range(11):  # one guess per user name: no account reaches its own limit
        assert _login(f"user{i}", "Winter2026!", ip=spray) == 200, i
    assert _login("user11", "Winter2026!", ip=spray) == 429  # the 12th failure locks
    assert _login("dave", ip=spray) == 429  # the right password too, from that address
    assert _login("dave", ip="198.51.100.8") == 302  # another address is not affected
    event = AuditEvent.objects.filter(action="auth.locked_out").latest("pk")
    assert event.details["ip_address"] == spray


@override_settings(LOGIN_IP_FAILURE_LIMIT=3)
def test_api_tokens_are_not_affected_by_sign_in_lockouts(make_user: Any) -> None:
    robot = make_user("robot", Role.INTEGRATION)
    _, key = api_token_create(user=robot, name="crm")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login("robot", "guess", ip=f"10.9.1.{i}")
    for i in range(3):
        _login(f"nobody{i}", "guess", ip="10.9.2.1")
    assert _login("robot", ip="10.9.2.1") == 429
    api = APIClient(REMOTE_ADDR="10.9.2.1")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/me/").status_code == 200
