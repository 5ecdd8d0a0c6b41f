"""The secure message center end to end, in a real browser, with a real Celery worker and a
real SMTP server: a customer signs in with the e-mailed code and writes about an unrecognised
charge, attaching the receipt; the worker drafts a reply from the customer-facing collection
and proposes the dispute form bound to that charge; the agent downloads the receipt, edits,
approves and sends; the customer is e-mailed a link (never the content), reads the reply and
confirms the pre-filled form; the supervisor approves it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from portal.permissions import Role
from tests.browser.conftest import sign_in
from tests.support.smtp import Mailbox, smtp_as_portal_mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "secure journey password 5"
RECEIPT = b"%PDF-1.4\n% ACME Ltd receipt: 54.20 USD, card ending 4242\n%%EOF\n"


def _wait(condition: Callable[[], Any], what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _setup(make_user: Any, regions: dict[str, Any]) -> Any:
    from django.core.files.base import ContentFile

    from forms_app.demo import seed_forms
    from knowledge.customers.demo import demo_secure_customer, seed_customers
    from knowledge.customers.services import customer_login_ensure
    from knowledge.demo import DOCUMENTS_DIR, seed_collections
    from knowledge.ingestion.pipeline import ingest
    from knowledge.services import document_create

    seed_customers(count=20)
    seed_forms()
    collections = seed_collections()
    for slug in ("customer-help", "fraud-disputes"):
        for path in sorted((DOCUMENTS_DIR / slug).iterdir()):
            document = document_create(
                actor=None,
                collection=collections[slug],
                title=path.stem,
                file=ContentFile(path.read_bytes(), name=path.name),
                enqueue=False,
            )
            ingest([document.pk])
    make_user("agent", Role.AGENT, regions=[regions["north"]], password=PASSWORD)
    make_user("supervisor", Role.SUPERVISOR, regions=[regions["north"]], password=PASSWORD)
    customer = demo_secure_customer()
    assert customer is not None
    customer.email = "journey.customer@example.test"
    customer.save()
    user, _ = customer_login_ensure(actor=None, customer=customer)
    user.email = customer.email
    user.set_password(PASSWORD)
    user.save()
    return user


def test_customer_message_draft_approval_notification_form_review(
    live_server: Any,
    browser: Any,
    make_user: Any,
    regions: dict[str, Any],
    celery_worker_thread: Any,
    settings: Any,
) -> None:
    from assistant.messaging.models import Draft, Thread
    from forms_app.models import FormSubmission

    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = settings.AZURE_OPENAI_ENDPOINT = ""
    settings.OTP_EMAIL_THROTTLE_FACTOR = 0
    base = live_server.url
    with smtp_as_portal_mail(settings) as mailbox:
        customer_user = _setup(make_user, regions)
        address = customer_user.email

        # The customer signs in with the e-mailed code and writes.
        customer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        customer.goto(f"{base}/secure/login/")
        customer.fill("input[name=username]", customer_user.username)
        customer.fill("input[name=password]", PASSWORD)
        customer.click("button[type=submit]")
        customer.wait_for_url(f"{base}/secure/login/code/")
        code_mail = _wait(lambda: mailbox.to(address), "the sign-in code")[-1]
        code = re.search(r"\b(\d{6})\b", Mailbox.body(code_mail))
        assert code is not None
        customer.fill("input[name=code]", code.group(1))
        customer.click("button[type=submit]")
        customer.wait_for_url(f"{base}/secure/")
        customer.click("[data-new-thread]")
        customer.select_option("select[name=category]", "card_dispute")
        customer.fill("input[name=subject]", "Unknown charge")
        customer.fill(
            "textarea[name=body]",
            "I don't recognise a $54.20 charge from ACME on my credit card. How do I dispute it?",
        )
        customer.set_input_files(
            "input[name=attachments]",
            files=[{"name": "acme-receipt.pdf", "mimeType": "application/pdf", "buffer": RECEIPT}],
        )
        customer.click("[data-send]")
        customer.wait_for_url(re.compile(r".*/secure/threads/\d+/$"))
        thread = Thread.objects.get()

        # The worker drafts it: customer-facing sources, the dispute form on the ACME charge.
        draft = _wait(
            lambda: Draft.objects.filter(thread=thread, status="ready").first(), "the draft"
        )
        assert draft.source_collections == ["customer-help"]
        assert draft.form_proposal["form"] == "card-dispute"
        acme = draft.form_proposal["transaction_id"]
        assert acme is not None

        # The agent reviews the draft, edits it, approves and sends it with the form.
        agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(agent, base, "agent", PASSWORD)
        agent.click("nav >> text=Secure messages")
        agent.click(f'[data-thread="{thread.pk}"] a')
        assert agent.locator("[data-draft-citations] li").count() >= 1
        assert agent.locator("[data-confidence=sources]").is_visible()
        assert agent.input_value("[data-form-transaction]") == str(acme)
        # The receipt the customer attached downloads for the agent.
        with agent.expect_download() as receipt:
            agent.click("[data-attachment]")
        assert receipt.value.suggested_filename == "acme-receipt.pdf"
        assert Path(receipt.value.path()).read_bytes() == RECEIPT
        body = agent.input_value("textarea[name=body]")
        agent.fill("textarea[name=body]", body + "\n\nKind regards, Alex")
        agent.click("[data-reply-form] button[type=submit]")
        agent.wait_for_selector("[data-from-draft]")

        # The customer is told by e-mail (a link, no content), reads and confirms the form.
        notice = _wait(
            lambda: [m for m in mailbox.to(address) if "new secure message" in m["Subject"]],
            "the notification",
        )[-1]
        text = Mailbox.body(notice)
        assert "ACME" not in text and "Kind regards" not in text
        link = re.search(r"http://[^/\s]+(/secure/threads/\d+/)", text)
        assert link is not None
        customer.goto(f"{base}{link.group(1)}")
        assert "Kind regards, Alex" in customer.inner_text("main")
        customer.click("[data-form-link]")
        assert "from your transaction of" in customer.inner_text("main")
        customer.select_option("select[name=reason]", "not_recognised")
        customer.click("[data-confirm]")
        customer.wait_for_selector("[data-form-confirmed]")
        submission = FormSubmission.objects.get()
        assert submission.status == "submitted" and submission.submitted_by == customer_user
        assert submission.transaction_id == acme

        # The supervisor approves it.
        supervisor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(supervisor, base, "supervisor", PASSWORD)
        supervisor.goto(f"{base}/forms/submissions/{submission.pk}/")
        assert supervisor.locator("[data-sent-to-customer]").is_visible()
        supervisor.fill("#comment-approve", "Provisional credit issued.")
        supervisor.click('[data-transition="approve"] button')
        supervisor.wait_for_selector("[data-decision]")
        submission.refresh_from_db()
        assert submission.status == "approved"
