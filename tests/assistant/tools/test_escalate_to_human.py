"""escalate_to_human: a hand-off with the conversation's customer and draft."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.answering import answer
from assistant.models import Handoff
from assistant.services import conversation_create
from forms_app.models import FormSubmission
from tests.assistant.tools.conftest import customer_with_card

pytestmark = pytest.mark.django_db


def test_escalate_creates_a_handoff_with_customer_and_draft(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any], regions: dict[str, Any]
) -> None:
    customer = customer_with_card(bank["north"])
    conversation = conversation_create(owner=agent, customer=customer)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form",
                         "arguments": {"form_slug": "card-dispute", "customer_id": customer.pk}}]},
        {"content": "Draft ready."},
        {"tool_calls": [{"name": "escalate_to_human",
                         "arguments": {"reason": "Customer disputes a large amount"}}]},
        {"content": "A supervisor will take it."},
    ]  # fmt: skip
    answer(user=agent, conversation=conversation, text="Start a card dispute")
    message = answer(user=agent, conversation=conversation, text="Hand this to a supervisor")
    handoff = Handoff.objects.get()
    assert handoff.conversation == conversation and handoff.customer == customer
    assert handoff.submission == FormSubmission.objects.get()
    assert handoff.region == regions["north"] and handoff.created_by == agent
    assert next(c for c in message.cards if c["type"] == "handoff")["handoff_id"] == handoff.pk
