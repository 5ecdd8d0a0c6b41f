"""Typed commands (no model needed): /help, /search, /customer, /prefill, /escalate."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.answering import answer
from assistant.models import Handoff
from assistant.services import conversation_create
from forms_app.models import FormSubmission
from knowledge.customers.models import Account
from portal.permissions import Role
from tests.knowledge.conftest import add_document, collections  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("stream_agent", Role.AGENT, regions=[regions["north"]])


def test_help_command(agent: Any, without_llm: None, ask: Any) -> None:
    message = ask(agent, "/help")
    assert "/prefill FORM CUSTOMER" in message.content and message.model_name == "command"


def test_search_command_cites_passages(
    agent: Any,
    without_llm: None,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    add_document(collections["products-fees"], "Fees", "# Fees\n\nThe card fee is 5 euros.")
    message = ask(agent, "/search card fee in products-fees")
    assert "The card fee is 5 euros." in message.content
    assert message.citations[0]["type"] == "chunk"
    refused = ask(agent, "/search fee in compliance-aml")
    assert "no collection 'compliance-aml'" in refused.content


def test_customer_prefill_and_escalate_commands(
    agent: Any, without_llm: None, ask: Any, bank: dict[str, Any]
) -> None:
    customer = next(
        c
        for c in bank["north"]
        if Account.objects.filter(customer=c, transactions__isnull=False)
        .exclude(card_last4="")
        .exists()
    )
    txn = (
        Account.objects.filter(customer=customer, transactions__isnull=False)
        .exclude(card_last4="")
        .first()
        .transactions.first()
    )
    conversation = conversation_create(owner=agent)
    found = answer(user=agent, conversation=conversation, text=f"/customer {customer.email}")
    assert customer.customer_number in found.content
    assert found.cards[0] == {
        "type": "customer",
        "customer_id": customer.pk,
        "customer_number": customer.customer_number,
        "name": customer.full_name,
    }
    draft = answer(
        user=agent,
        conversation=conversation,
        text=f"/prefill card-dispute {customer.customer_number} transaction={txn.pk}",
    )
    submission = FormSubmission.objects.get()
    assert draft.cards[0]["submission_id"] == submission.pk
    assert submission.transaction == txn and submission.status == "draft"
    south = bank["south"][0]
    refused = answer(
        user=agent, conversation=conversation, text=f"/prefill card-dispute {south.customer_number}"
    )
    assert f"No customer {south.customer_number} that you may see" in refused.content
    escalated = answer(user=agent, conversation=conversation, text="/escalate customer is angry")
    handoff = Handoff.objects.get()
    assert handoff.reason == "customer is angry" and handoff.submission == submission
    assert escalated.cards[0]["handoff_id"] == handoff.pk


def test_prefill_ids_that_are_not_ascii_digits_are_not_understood(
    agent: Any, without_llm: None, ask: Any, bank: dict[str, Any]
) -> None:
    # "²" passes str.isdigit() but int() refuses it: a plain answer, never a failure.
    message = ask(agent, "/prefill card-dispute \u00b2")
    assert message.content == "No customer \u00b2 that you may see." and not message.error
    number = bank["north"][0].customer_number
    message = ask(agent, f"/prefill card-dispute {number} account=\u00b2")
    assert message.content.startswith("Not understood: `account=\u00b2`")
    message = ask(agent, f"/prefill card-dispute {number} account={'9' * 19}")
    assert message.content.startswith("Not understood: `account=999") and not message.error
    assert not FormSubmission.objects.exists()
