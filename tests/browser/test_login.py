"""A person signs in through a real browser and sees their dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser test password 1"


@override_settings(DEMO_PASSWORD=PASSWORD)
def test_agent_logs_in_and_sees_dashboard(live_server: Any, page: Any) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").first.inner_text().strip() != ""
    body = page.locator("body").inner_text()
    assert "agent" in body
    assert "North branch" in body
    assert "Audit trail" not in body  # not for agents
    # Bootstrap's CSS was applied (served locally under the strict CSP).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
    assert not [e for e in page.console_errors if "Content Security Policy" in e], (
        page.console_errors
    )
    page.screenshot(path="var/screenshots/dashboard-agent.png", full_page=True)


@override_settings(DEMO_PASSWORD=PASSWORD)
def test_mobile_navigation_collapses_and_opens(live_server: Any, browser: Any) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "compliance")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    toggler = page.locator(".navbar-toggler")
    assert toggler.is_visible()
    audit_link = page.get_by_role("link", name="Audit trail").first
    toggler.click()
    page.wait_for_timeout(500)
    page.locator("nav").get_by_role("link", name="Audit trail").click()
    page.wait_for_url(f"{live_server.url}/audit/")
    assert "Audit trail" in page.locator("h1").inner_text()
    assert audit_link is not None
    page.screenshot(path="var/screenshots/audit-mobile.png", full_page=True)
    context.close()
