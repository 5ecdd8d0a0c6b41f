"""The whole journey in a real browser: pre-fill, submit, review, see the decision."""

from __future__ import annotations

from typing import Any

import pytest

from portal.permissions import Role
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser journey password 7"


def _sign_in(page: Any, base: str, username: str) -> None:
    sign_in(page, base, username, PASSWORD)


def test_prefill_submit_review_decision(
    live_server: Any, browser: Any, page: Any, make_user: Any, regions: dict[str, Any]
) -> None:
    from forms_app.demo import seed_forms
    from forms_app.models import FormSubmission
    from knowledge.customers.demo import seed_customers
    from knowledge.customers.models import Account, Customer

    seed_customers(count=20)
    seed_forms()
    north = regions["north"]
    make_user("agent", Role.AGENT, regions=[north], password=PASSWORD)
    make_user("supervisor", Role.SUPERVISOR, regions=[north], password=PASSWORD)
    customer = (
        Customer.objects.filter(region=north, accounts__transactions__isnull=False)
        .exclude(accounts__card_last4="")
        .order_by("pk")
        .first()
    )
    account = (
        Account.objects.filter(customer=customer, transactions__isnull=False)
        .exclude(card_last4="")
        .order_by("pk")
        .first()
    )
    txn = account.transactions.order_by("-posted_date", "-pk").first()
    base = live_server.url

    _sign_in(page, base, "agent")
    page.goto(f"{base}/forms/card-dispute/")
    page.fill("input[name=customer_q]", customer.customer_number)
    page.click("[data-prefill] button[type=submit]")
    page.click(f'[data-customer="{customer.pk}"]')
    page.click(f'[data-account="{account.pk}"]')
    page.click(f'[data-transaction="{txn.pk}"]')
    assert page.input_value("input[name=customer_name]") == customer.full_name
    assert page.input_value("select[name=transaction]") == str(txn.pk)
    badge = page.locator('[data-provenance="customer_name"]')
    assert f"from customer #{customer.pk} · full_name" in badge.inner_text()
    assert page.locator('[data-provenance="amount"]').is_visible()
    page.select_option("select[name=reason]", "duplicate")
    page.click("button[name=action][value=submit]")
    page.wait_for_selector('[data-status="submitted"]')
    submission = FormSubmission.objects.get()
    assert submission.status == "submitted"
    assert submission.data["customer_name"] == customer.full_name

    reviewer_context = browser.new_context()
    reviewer = reviewer_context.new_page()
    _sign_in(reviewer, base, "supervisor")
    reviewer.click("nav >> text=Reviews")
    reviewer.click(f'[data-submission="{submission.pk}"] a')
    reviewer.fill("#comment-approve", "Duplicate confirmed.")
    reviewer.click('[data-transition="approve"] button')
    reviewer.wait_for_selector("[data-decision]")
    reviewer_context.close()

    page.goto(f"{base}/")
    decisions = page.locator("[data-decisions]")
    assert "Approved" in decisions.inner_text()
    assert "Duplicate confirmed." in decisions.inner_text()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], (
        page.console_errors
    )
