"""Single sign-on against a real OpenID Connect provider (tests/idp, oidc-provider) and the
portal's live server: requests drives the browser's part (redirects, the provider's login
form), the portal and the provider do the rest for real."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from django.test import override_settings

from portal.identity.services import group_mappings_seed
from tests.support.idp import RunningOIDCProvider, portal_provider

CLIENT_ID = "portal"
CLIENT_SECRET = "portal-test-client-secret-0123456789"
PASSWORD = "provider-password-2026"
USERS = [
    {
        "sub": "u-alice-7f3a",
        "username": "alice",
        "password": PASSWORD,
        "email": "alice@bank.example",
        "name": "Alice Agent",
        "groups": ["portal-agents-north", "all-staff"],
    },
    {
        "sub": "u-bob-91c2",
        "username": "bob",
        "password": PASSWORD,
        "email": "bob@bank.example",
        "name": "Bob Unmapped",
        "groups": ["all-staff", "canteen-committee"],
    },
    {
        "sub": "u-carol-55d0",
        "username": "carol",
        "password": PASSWORD,
        "email": "carol@bank.example",
        "name": "Carol Compliance",
        "groups": ["portal-compliance"],
    },
]
GROUP_MAP = (
    "portal-agents-north=agent:north,portal-agents-south=agent:south,portal-compliance=compliance"
)
LOGIN_FORM = re.compile(r'<form[^>]*id="login-form"[^>]*action="([^"]+)"')


@dataclass
class SignIn:
    session: requests.Session
    response: requests.Response  # the last page: the portal's, after every redirect
    callback_url: str  # the provider's redirect to the portal (code and state)


@pytest.fixture(scope="module")
def idp(live_server: Any) -> Iterator[RunningOIDCProvider]:
    with portal_provider(live_server.url, CLIENT_ID, CLIENT_SECRET, USERS) as provider:
        yield provider


@pytest.fixture
def sso(idp: RunningOIDCProvider, transactional_db: None, regions: Any) -> Iterator[Any]:
    """SSO on (settings as an operator sets them), the group mappings seeded."""
    group_mappings_seed(GROUP_MAP)
    with override_settings(
        OIDC_ISSUER=idp.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_DISPLAY_NAME="Bank SSO",
    ):
        yield idp
    for user in USERS:  # the provider keeps groups across tests: restore them
        idp.set_groups(str(user["sub"]), list(user["groups"]))


def provider_sign_in(
    base_url: str, username: str, password: str = PASSWORD, session: Any = None
) -> SignIn:
    """Start at the portal's SSO button, fill in the provider's form, follow every redirect."""
    session = session or requests.Session()
    form = session.get(f"{base_url}/accounts/sso/login/", timeout=30)
    assert form.status_code == 200, form.text[:500]
    action = LOGIN_FORM.search(form.text)
    if action is None:  # already signed in at the provider: straight back to the portal
        return SignIn(session, form, _callback_of(form, base_url))
    response = session.post(
        urljoin(form.url, action.group(1)),
        data={"login": username, "password": password},
        timeout=30,
    )
    return SignIn(session, response, _callback_of(response, base_url))


def _callback_of(response: requests.Response, base_url: str) -> str:
    urls = [r.url for r in [*response.history, response]]
    return next((u for u in urls if u.startswith(f"{base_url}/accounts/sso/callback/")), "")
