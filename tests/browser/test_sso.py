"""Single sign-on in a real browser: the portal's SSO button, the real provider's sign-in
form (tests/idp, oidc-provider), back to the dashboard with the mapped role, the no-access
page for a user whose groups map to nothing, and sign-out at the portal and the provider."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from portal.identity.services import group_mappings_seed
from tests.support.idp import RunningOIDCProvider, portal_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "portal-browser"
CLIENT_SECRET = "portal-browser-client-secret-0123456789"
PASSWORD = "provider browser password 1"
USERS = [
    {
        "sub": "u-ada-1b7e",
        "username": "ada",
        "password": PASSWORD,
        "email": "ada@bank.example",
        "name": "Ada Agent",
        "groups": ["portal-agents-north", "all-staff"],
    },
    {
        "sub": "u-ned-4c90",
        "username": "ned",
        "password": PASSWORD,
        "email": "ned@bank.example",
        "name": "Ned Nobody",
        "groups": ["all-staff"],
    },
]
GROUP_MAP = "portal-agents-north=agent:north,portal-compliance=compliance"


@pytest.fixture(scope="module")
def idp(live_server: Any) -> Iterator[RunningOIDCProvider]:
    with portal_provider(live_server.url, CLIENT_ID, CLIENT_SECRET, USERS) as provider:
        yield provider


@pytest.fixture
def sso(idp: RunningOIDCProvider, regions: Any) -> Iterator[RunningOIDCProvider]:
    """SSO on as an operator sets it, the group mappings seeded."""
    group_mappings_seed(GROUP_MAP)
    with override_settings(
        OIDC_ISSUER=idp.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_DISPLAY_NAME="Bank SSO",
    ):
        yield idp


@pytest.fixture
def console(page: Any) -> list[tuple[str, str]]:
    """The page's console errors with the URL they are about (``page.console_errors``
    keeps the text only)."""
    errors: list[tuple[str, str]] = []
    page.on(
        "console",
        lambda m: errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None,
    )
    return errors


def _unexpected(
    page: Any, console: list[tuple[str, str]], idp: RunningOIDCProvider, base: str
) -> list[str]:
    """Errors other than the expected ones: the portal's no-access page (403 at the
    callback) and the test provider's missing favicon (its pages link none)."""
    expected_urls = (f"{base}/accounts/sso/callback/", f"{idp.issuer}/favicon.ico")
    http = [
        e
        for e in page.console_errors
        if e.startswith("HTTP ") and f"{base}/accounts/sso/callback/" not in e
    ]
    logged = [f"{text} ({url})" for text, url in console if not url.startswith(expected_urls)]
    return http + logged


def _provider_sign_in(page: Any, idp: RunningOIDCProvider, username: str) -> None:
    """Fill in the provider's own sign-in form (the browser is on it, or on its way)."""
    page.wait_for_url(f"{idp.issuer}/interaction/**")
    page.fill("#login-form input[name=login]", username)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form #submit")


def _sign_in_as_agent(page: Any, idp: RunningOIDCProvider, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.locator("[data-sso-button]").click()
    _provider_sign_in(page, idp, "ada")
    page.wait_for_url(f"{base}/")


def test_the_sso_button_comes_first_and_signs_an_agent_in(
    live_server: Any, page: Any, console: list[tuple[str, str]], sso: RunningOIDCProvider
) -> None:
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    button = page.locator("[data-sso-button]")
    assert button.is_visible()
    assert button.inner_text().strip() == "Sign in with Bank SSO"
    assert page.locator("input[name=password]").is_visible()  # passwords: still offered
    assert page.evaluate(
        """() => {
            const button = document.querySelector('[data-sso-button]');
            const form = document.querySelector('input[name=password]').form;
            return Boolean(button.compareDocumentPosition(form)
                           & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""
    ), "the SSO button is not before the password form"

    button.click()
    _provider_sign_in(page, sso, "ada")
    page.wait_for_url(f"{base}/")

    menu = page.locator("#portal-user-menu-toggle")
    assert "ada" in menu.inner_text()
    menu.click()
    badges = page.locator(".portal-user-menu .portal-role-badge").all_inner_texts()
    assert "agent" in badges
    assert any(badge.startswith("north") for badge in badges)
    links = page.locator("#portal-navbar-content a.nav-link").all_inner_texts()
    assert "Customers" in links  # the agent's navigation ...
    assert "Audit trail" not in links  # ... not compliance's
    assert "North branch" in page.locator("main").inner_text()
    assert not _unexpected(page, console, sso, base)
    page.screenshot(path="var/screenshots/sso-dashboard-agent.png", full_page=True)


def test_a_user_whose_groups_map_to_nothing_gets_the_no_access_page(
    live_server: Any, page: Any, console: list[tuple[str, str]], sso: RunningOIDCProvider
) -> None:
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.locator("[data-sso-button]").click()
    _provider_sign_in(page, sso, "ned")
    page.wait_for_url(f"{base}/accounts/sso/callback/**")
    assert page.locator("h1").inner_text().strip() == "No access to the portal"
    notice = page.locator("[data-sso-no-access=no_mapped_group]")
    assert notice.is_visible()
    assert "Bank SSO" in notice.inner_text()
    assert page.locator("#portal-user-menu-toggle").count() == 0  # nobody signed in
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/accounts/login/"), page.url

    # The only 403 is the no-access page itself.
    assert [e for e in page.console_errors if e.startswith("HTTP ")] == [
        e for e in page.console_errors if e.startswith(f"HTTP 403 {base}/accounts/sso/callback/")
    ]
    assert any(e.startswith("HTTP 403 ") for e in page.console_errors)
    assert not _unexpected(page, console, sso, base)
    page.screenshot(path="var/screenshots/sso-no-access.png", full_page=True)


def test_signing_out_ends_the_portal_and_the_provider_session(
    live_server: Any, page: Any, console: list[tuple[str, str]], sso: RunningOIDCProvider
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    base = live_server.url
    _sign_in_as_agent(page, sso, base)
    page.locator("#portal-user-menu-toggle").click()
    page.locator(".portal-user-menu").get_by_role("button", name="Sign out").click()
    # The portal, then the provider (its logout page submits itself), then back here.
    signed_out = re.compile(re.escape(f"{base}/accounts/login/") + r"(\?.*)?$")
    try:
        page.wait_for_url(signed_out, timeout=10_000)
    except PlaywrightTimeout:  # say where it stayed, and why
        pytest.fail(f"sign-out stayed on {page.url}; console: {page.console_errors}")
    assert page.locator("[data-sso-button]").is_visible()
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/accounts/login/"), page.url
    assert page.locator("input[name=password]").is_visible()

    # The provider's session ended too: its form is asked for again.
    page.locator("[data-sso-button]").click()
    page.wait_for_url(f"{sso.issuer}/interaction/**")
    assert page.locator("#login-form").is_visible()
    assert not _unexpected(page, console, sso, base)
