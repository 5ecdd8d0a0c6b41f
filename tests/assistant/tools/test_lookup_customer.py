"""lookup_customer: customers of the user's regions only; the user's own words name them."""

from __future__ import annotations

from typing import Any

import pytest

from forms_app.models import FormSubmission
from tests.assistant.conftest import chat_requests, prompt_text
from tests.assistant.tools.conftest import tool_messages

pytestmark = pytest.mark.django_db


def test_lookup_of_another_regions_customer_finds_nothing(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    south = bank["south"][0]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "lookup_customer",
                         "arguments": {"query": south.customer_number}}]},
        {"content": "Nobody."},
    ]  # fmt: skip
    ask(agent, f"Look up {south.customer_number}")
    for request in chat_requests(llm_server):
        assert south.full_name not in prompt_text(request)
    assert tool_messages(chat_requests(llm_server)[1])[0]["content"] == "No customer found."


def test_lookup_of_a_name_the_user_gave_puts_the_customer_in_scope(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    customer = bank["north"][2]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "lookup_customer", "arguments": {"query": customer.email}}]},
        {"tool_calls": [{"name": "prefill_form", "arguments": {
            "form_slug": "address-change", "customer_id": customer.pk}}]},
        {"content": "Draft ready."},
    ]  # fmt: skip
    message = ask(agent, f"address change for the customer with email {customer.email.upper()}")
    assert [call["ok"] for call in message.tool_calls] == [True, True]
    assert FormSubmission.objects.get().customer == customer
