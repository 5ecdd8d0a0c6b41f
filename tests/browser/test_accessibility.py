"""Every staff page and every page of the customer area passes axe-core (WCAG 2.2 A and AA
rules) with no violation.

Banking services in the EU fall under the European Accessibility Act. axe-core comes from
npm (tests/a11y, `make a11y`) and is evaluated in each page by Playwright; the pages are
those of the seeded demo, as each role sees them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser test password 1"
AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def _pages() -> dict[str, list[str]]:
    """Paths per demo user: every page of the staff navigation and one of each detail."""
    from assistant.messaging.models import Thread
    from forms_app.models import FormDefinition, FormSubmission
    from knowledge.customers.models import Customer
    from knowledge.models import Document

    document = Document.objects.filter(collection__slug="products-fees").order_by("pk").first()
    customer = Customer.objects.filter(region__code="north").order_by("pk").first()
    form = FormDefinition.objects.order_by("pk").first()
    submission = FormSubmission.objects.order_by("pk").first()
    agent = [
        "/",
        "/knowledge/search/?q=card+fees",
        "/knowledge/documents/",
        "/assistant/",
        "/forms/",
        "/forms/submissions/",
        "/customers/?q=a",
        "/accounts/mfa/",
        "/accounts/sessions/",
        "/accounts/password/",
    ]
    agent += [f"/knowledge/documents/{document.pk}/"] if document else []
    agent += [f"/customers/{customer.pk}/"] if customer else []
    agent += [f"/forms/{form.slug}/"] if form else []
    thread = Thread.objects.order_by("pk").first()
    agent += ["/messages/"] + ([f"/messages/{thread.pk}/"] if thread else [])
    supervisor = ["/forms/reviews/", "/assistant/handoffs/"]
    supervisor += [f"/forms/submissions/{submission.pk}/"] if submission else []
    compliance = [
        "/audit/",
        "/audit/verify/",
        "/audit/exports/",
        "/audit/retention/",
        "/audit/erasure/",
        "/audit/access/",
    ]
    content = ["/knowledge/documents/upload/"]
    return {"agent": agent, "supervisor": supervisor, "compliance": compliance, "content": content}


def _violations(page: Any) -> list[dict[str, Any]]:
    result = page.evaluate(
        "async (tags) => {"
        " const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5), count: v.nodes.length})); }",
        TAGS,
    )
    return list(result)


def _customer_pages(
    live_server: Any, browser: Any, script: str, found: dict[str, list[dict[str, Any]]]
) -> int:
    """The customer area as the demo customer sees it: sign-in, code, messages, records."""
    from django.core import mail

    from assistant.messaging.models import Thread
    from knowledge.customers.models import CustomerLogin

    thread = Thread.objects.order_by("pk").first()
    assert thread is not None, "seed_demo gives the demo customer a thread"
    username = CustomerLogin.objects.get(customer=thread.customer).user.username
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    visited = 0

    def check(label: str) -> None:
        nonlocal visited
        page.evaluate(script)
        found[f"customer {label}"] = _violations(page)
        visited += 1

    page.goto(f"{live_server.url}/secure/login/")
    check("/secure/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/secure/login/code/")
    check("/secure/login/code/")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert code is not None
    page.fill("input[name=code]", code.group(1))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/secure/")
    for path in [
        "/secure/",
        "/secure/threads/new/",
        f"/secure/threads/{thread.pk}/",
        "/secure/records/",
        "/secure/security/",
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, path
        check(path)
    context.close()
    return visited


@override_settings(DEMO_PASSWORD=PASSWORD)
def test_every_staff_page_passes_axe(live_server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make a11y` (npm ci in tests/a11y) installs it.")
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    script = AXE.read_text(encoding="utf-8")
    found: dict[str, list[dict[str, Any]]] = {}
    visited = 0
    # The login page, signed out.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(script)
    found["/accounts/login/"] = _violations(page)
    visited += 1
    context.close()
    for username, paths in _pages().items():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        for path in paths:
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, (username, path)
            page.evaluate(script)
            found[f"{username} {path}"] = _violations(page)
            visited += 1
        if username == "agent":
            # A conversation with an answer (the extractive answerer: no model configured),
            # its sources and a source's passage opened.
            page.goto(f"{live_server.url}/assistant/")
            page.click("[data-new-conversation] button[type=submit]")
            page.wait_for_url(re.compile(r".*/assistant/c/\d+/$"))
            page.fill("[data-ask-input]", "How long do I have to dispute a card transaction?")
            page.click("[data-ask-submit]")
            answer = page.locator("[data-role=assistant] [data-answer]").first
            expect(answer).to_be_visible(timeout=30_000)
            toggle = page.locator("[data-sources] [data-preview-toggle]")
            if toggle.count():
                toggle.first.click()
                expect(
                    page.locator("[data-preview-panel] [data-preview-text]").first
                ).to_be_visible()
            page.evaluate(script)
            found[f"{username} {page.url.removeprefix(live_server.url)} (answered)"] = _violations(
                page
            )
            visited += 1
        context.close()
    visited += _customer_pages(live_server, browser, script, found)
    failing = {where: v for where, v in found.items() if v}
    elements = sum(v["count"] for violations in failing.values() for v in violations)
    assert not failing, (
        f"{elements} violating elements on {len(failing)} of {visited} pages:\n"
        + json.dumps(failing, indent=1)
    )
