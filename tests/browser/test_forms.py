"""A smart form shows and hides conditional fields in a real browser, under the strict CSP."""

from __future__ import annotations

from typing import Any

import pytest

from portal.permissions import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser test password 3"


def test_dispute_other_reason_appears(live_server: Any, page: Any, make_user: Any) -> None:
    from forms_app.demo import seed_forms

    seed_forms()
    make_user("agent", Role.AGENT, password=PASSWORD)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/forms/card-dispute/")
    other = page.locator('[data-field-key="other_reason"]')
    other.wait_for(state="hidden")
    assert not other.is_visible()
    assert page.locator("textarea[name=other_reason]").is_disabled()

    page.select_option("select[name=reason]", "other")
    other.wait_for(state="visible")
    assert page.locator("textarea[name=other_reason]").is_enabled()

    page.select_option("select[name=reason]", "duplicate")
    other.wait_for(state="hidden")

    # The server agrees: "other" chosen but left empty is an error next to the field.
    page.select_option("select[name=reason]", "other")
    page.click("form[data-smart-form] button[type=submit]")
    page.wait_for_selector("#error_1_id_other_reason, .invalid-feedback")
    assert other.is_visible()
    assert "This field is required." in other.inner_text()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], (
        page.console_errors
    )
