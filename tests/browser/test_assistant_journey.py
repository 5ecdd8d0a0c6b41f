"""The assistant in a real browser: a streamed answer with a source, a pre-filled draft
submitted, an escalation, and the supervisor reading the hand-off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from portal.permissions import Role
from tests.browser.conftest import sign_in
from tests.knowledge.conftest import add_document, collections  # noqa: F401
from tests.support.openai_server import FakeOpenAI, fake_openai_as_portal_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "assistant journey password 9"
FEES_TEXT = (
    "# Card fees\n\nThe annual card fee is 5 euros for standard cards. "
    "Replacement cards cost 10 euros.\n"
)
ANSWER = "The annual card fee is 5 euros for standard cards [1]."

# Records every state of the streamed text (and whether a citation link existed then).
WATCH_STREAM = """() => {
  window.__streamed = [];
  const log = document.querySelector("[data-chat-log]");
  new MutationObserver(() => {
    const text = document.querySelector("[data-streaming-text]");
    if (text && text.textContent) {
      window.__streamed.push({
        text: text.textContent,
        links: log.querySelectorAll("a.citation").length,
      });
    }
  }).observe(log, { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture
def server(settings: Any) -> Iterator[FakeOpenAI]:
    """The fake model, in this process: the live server reads these settings too."""
    with fake_openai_as_portal_model(settings, timeout=10) as fake:
        fake.stream_delay_seconds = 0.05  # slow enough to watch the answer arrive
        yield fake


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    return expect


def _csp_errors(page: Any) -> list[str]:
    return [e for e in page.console_errors if "Content Security Policy" in e]


def test_ask_prefill_escalate_and_hand_off(
    live_server: Any,
    browser: Any,
    page: Any,
    make_user: Any,
    regions: dict[str, Any],
    server: FakeOpenAI,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    from assistant.models import Handoff
    from forms_app.demo import seed_forms
    from forms_app.models import FormSubmission
    from knowledge.customers.demo import seed_customers
    from knowledge.customers.models import Account, Customer

    expect = _expect()
    seed_customers(count=20)
    seed_forms()
    add_document(collections["products-fees"], "Card fees", FEES_TEXT)
    north = regions["north"]
    make_user("agent", Role.AGENT, regions=[north], password=PASSWORD)
    make_user("supervisor", Role.SUPERVISOR, regions=[north], password=PASSWORD)
    # A plain two-word name, so that the question names the customer unambiguously.
    customer = next(
        c
        for c in Customer.objects.filter(region=north, accounts__transactions__isnull=False)
        .exclude(accounts__card_last4="")
        .order_by("pk")
        .distinct()
        if re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", c.full_name)
    )
    account = (
        Account.objects.filter(customer=customer, transactions__isnull=False)
        .exclude(card_last4="")
        .order_by("pk")
        .first()
    )
    txn = account.transactions.order_by("-posted_date", "-pk").first()
    server.chat_replies += [
        {"content": ANSWER},
        {
            "tool_calls": [
                {
                    "name": "prefill_form",
                    "arguments": {
                        "form_slug": "card-dispute",
                        "customer_id": customer.pk,
                        "account_id": account.pk,
                        "transaction_id": txn.pk,
                    },
                }
            ]
        },
        {"content": f"I pre-filled a card dispute draft for {customer.full_name}. Review it."},
    ]
    base = live_server.url

    # The agent opens the assistant and starts a conversation.
    sign_in(page, base, "agent", PASSWORD)
    page.click("nav >> text=Assistant")
    page.click("[data-new-conversation] button[type=submit]")
    page.wait_for_url(re.compile(r".*/assistant/c/\d+/$"))
    conversation_url = page.url

    # A policy question: the answer streams in as text, then becomes the cited answer.
    page.evaluate(WATCH_STREAM)
    page.fill("[data-ask-input]", "What is the annual card fee?")
    page.click("[data-ask-submit]")
    expect(page.locator("[data-role=user] [data-question]").first).to_have_text(
        "What is the annual card fee?"
    )
    answer = page.locator("[data-role=assistant]").first
    expect(answer.locator("[data-answer] a.citation")).to_have_text("[1]")
    expect(answer.locator("[data-answer]")).to_contain_text("5 euros for standard cards")
    streamed = page.evaluate("window.__streamed")
    partial = [s for s in streamed if s["links"] == 0 and "[1]" not in s["text"]]
    assert partial, streamed  # text was on screen before the answer was complete
    assert len({s["text"] for s in streamed}) >= 3, streamed  # and it grew step by step
    expect(page.locator("[data-ask-input]")).to_have_value("")
    expect(answer.locator("[data-model]")).to_have_text("test-model")

    # The source behind [1].
    answer.locator("[data-sources] [data-preview-toggle]").first.click()
    preview = answer.locator("[data-preview-panel] [data-preview-text]")
    expect(preview).to_contain_text("The annual card fee is 5 euros")
    expect(answer.locator("[data-preview-panel] a")).to_have_text(
        "Open the document at this passage"
    )

    # A card dispute: the model pre-fills a draft, the person reviews and submits it.
    page.fill(
        "[data-ask-input]",
        f"Start a card dispute for {customer.full_name} about the {txn.merchant} payment",
    )
    page.click("[data-ask-submit]")
    card = page.locator('[data-card="prefill"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("Card transaction dispute")
    expect(card.locator("[data-from-record]")).to_contain_text("Customer name")
    expect(page.locator('[data-tool="prefill_form"]')).to_contain_text("pre-filled a draft")
    card.get_by_role("link", name="Review and submit the draft").click()
    page.wait_for_url(re.compile(r".*/forms/submissions/\d+/$"))
    expect(page.locator("input[name=customer_name]")).to_have_value(customer.full_name)
    page.select_option("select[name=reason]", "duplicate")
    page.click("button[name=action][value=submit]")
    expect(page.locator('[data-status="submitted"]')).to_be_visible()
    submission = FormSubmission.objects.get()
    assert submission.customer_id == customer.pk and submission.status == "submitted"

    # Back in the conversation: hand it to a supervisor.
    page.goto(conversation_url)
    page.get_by_text("Escalate to a supervisor").click()
    page.fill("#escalate-reason", "Customer insists on a refund today")
    page.click("[data-escalate-submit]")
    expect(page.locator("[data-handoffs] [data-handoff-status]")).to_have_text("Open")
    handoff = Handoff.objects.get()
    assert handoff.submission_id == submission.pk and handoff.customer_id == customer.pk
    assert not _csp_errors(page), page.console_errors

    # The supervisor of the region finds it in the queue and reads the conversation.
    supervisor_context = browser.new_context(viewport={"width": 1280, "height": 900})
    supervisor = supervisor_context.new_page()
    supervisor.console_errors = []
    supervisor.on(
        "console", lambda m: supervisor.console_errors.append(m.text) if m.type == "error" else None
    )
    sign_in(supervisor, base, "supervisor", PASSWORD)
    supervisor.click("nav >> text=Hand-offs")
    row = supervisor.locator(f'[data-handoff="{handoff.pk}"]')
    expect(row).to_contain_text("Customer insists on a refund today")
    expect(row).to_contain_text(customer.customer_number)
    expect(row).to_contain_text("agent")
    row.locator("[data-open-conversation]").click()
    expect(supervisor.locator("[data-read-only]")).to_contain_text("belongs to agent")
    expect(supervisor.locator("[data-role=assistant] a.citation").first).to_be_visible()
    # The card shows the draft as it is now: submitted by the agent since.
    status = supervisor.locator('[data-card="prefill"] [data-submission-status]')
    expect(status).to_have_text("Submitted")
    assert supervisor.locator("[data-ask-form]").count() == 0
    assert supervisor.locator("[data-feedback-form]").count() == 0
    assert supervisor.locator("[data-escalate-form]").count() == 0
    supervisor.click(f'[data-handoff-actions="{handoff.pk}"] [data-assign]')
    expect(supervisor.locator("[data-handoffs] [data-handoff-status]")).to_have_text("Assigned")
    assert not _csp_errors(supervisor), supervisor.console_errors
    supervisor_context.close()


def test_refusals_keep_the_question_and_feedback_without_reload(
    live_server: Any,
    page: Any,
    make_user: Any,
    regions: dict[str, Any],
    settings: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    from assistant.models import Feedback, Message

    expect = _expect()
    settings.OPENAI_BASE_URL = ""  # the built-in extractive answerer
    settings.OPENAI_API_KEY = ""
    settings.AZURE_OPENAI_ENDPOINT = ""
    settings.ASSISTANT_RATE_LIMIT_PER_MINUTE = 1
    add_document(collections["products-fees"], "Card fees", FEES_TEXT)
    make_user("agent", Role.AGENT, regions=[regions["north"]], password=PASSWORD)
    base = live_server.url
    sign_in(page, base, "agent", PASSWORD)
    page.goto(f"{base}/assistant/")
    page.click("[data-new-conversation] button[type=submit]")
    page.wait_for_url(re.compile(r".*/assistant/c/\d+/$"))

    # An empty question is refused in the page; Enter sends.
    page.press("[data-ask-input]", "Enter")
    expect(page.locator("[data-ask-error]")).to_have_text("Enter a question.")
    page.fill("[data-ask-input]", "What is the annual card fee?")
    page.press("[data-ask-input]", "Enter")
    answer = page.locator("[data-role=assistant]")
    expect(answer.locator("[data-model]")).to_have_text(
        "Extracted from the documents (no language model)"
    )
    expect(page.locator("[data-conversation-title]")).to_have_text("What is the annual card fee?")

    # [1] in the text opens the source under the answer.
    answer.locator("[data-answer] a.citation").first.click()
    expect(answer.locator("[data-preview-text]").first).to_contain_text("5 euros")
    assert "/knowledge/documents/" not in page.url

    # Feedback is recorded without leaving the page, and shows the current choice.
    answer.locator("[data-feedback=helpful]").click()
    expect(page.locator("[data-feedback-current]")).to_have_text("You marked this answer helpful.")
    expect(page.locator("[data-feedback=helpful]")).to_have_attribute("aria-pressed", "true")
    page.fill("[data-feedback-form] textarea", "Missing the student rate")
    page.locator("[data-feedback=not-helpful]").click()
    expect(page.locator("[data-feedback-current]")).to_have_text(
        "You marked this answer not helpful."
    )
    feedback = Feedback.objects.get()
    assert feedback.helpful is False and feedback.comment == "Missing the student rate"

    # Over the rate limit: the message is shown next to the box, the text stays there.
    page.fill("[data-ask-input]", "And for business cards?")
    page.click("[data-ask-submit]")
    expect(page.locator("[data-ask-error]")).to_contain_text("your question was not sent")
    expect(page.locator("[data-ask-input]")).to_have_value("And for business cards?")
    expect(page.locator("[data-role=user]")).to_have_count(1)
    assert Message.objects.filter(role="user").count() == 1
    assert not _csp_errors(page), page.console_errors


def test_asking_works_without_javascript(
    live_server: Any,
    browser: Any,
    make_user: Any,
    regions: dict[str, Any],
    settings: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    expect = _expect()
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.AZURE_OPENAI_ENDPOINT = ""
    add_document(collections["products-fees"], "Card fees", FEES_TEXT)
    make_user("agent", Role.AGENT, regions=[regions["north"]], password=PASSWORD)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/assistant/")
    page.click("[data-new-conversation] button[type=submit]")
    page.fill("[data-ask-input]", "What is the annual card fee?")
    page.click("[data-ask-submit]")
    page.wait_for_url(re.compile(r".*/assistant/c/\d+/#message-\d+$"))
    answer = page.locator("[data-role=assistant]")
    expect(answer.locator("[data-answer] a.citation")).to_have_text("[1]")
    # The source opens as its own page.
    answer.locator("[data-preview-toggle]").click()
    expect(page.locator("[data-preview-text]")).to_contain_text("5 euros")
    context.close()
