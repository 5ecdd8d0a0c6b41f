"""Tools through the fake model: run as the user, schema-checked, refused and audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.answering import answer
from assistant.models import Handoff, MessageRole
from assistant.services import conversation_create
from assistant.tools import tool_specs
from forms_app.models import FormSubmission, SubmissionStatus
from knowledge.customers.models import Account
from portal.models import AuditEvent
from portal.permissions import Role
from tests.assistant.conftest import chat_requests, prompt_text
from tests.knowledge.canaries import canary_word
from tests.knowledge.conftest import add_document, collections  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("tool_agent", Role.AGENT, regions=[regions["north"]])


def _card_transaction(customer: Any) -> tuple[Any, Any]:
    account = (
        Account.objects.filter(customer=customer, transactions__isnull=False)
        .exclude(card_last4="")
        .order_by("pk")
        .first()
    )
    assert account is not None
    return account, account.transactions.order_by("-posted_date", "-pk").first()


def _customer_with_card(customers: list[Any]) -> Any:
    for customer in customers:
        if (
            Account.objects.filter(customer=customer, transactions__isnull=False)
            .exclude(card_last4="")
            .exists()
        ):
            return customer
    raise AssertionError("no seeded customer with card transactions")


def _tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["body"]["messages"] if m.get("role") == "tool"]


def test_tools_offered_follow_the_role(make_user: Any, regions: dict[str, Any]) -> None:
    agent = make_user("a", Role.AGENT, regions=[regions["north"]])
    content = make_user("c", Role.CONTENT_MANAGER)
    names = {spec["function"]["name"] for spec in tool_specs(agent)}
    assert names == {"search_knowledge", "lookup_customer", "prefill_form", "escalate_to_human"}
    content_names = {spec["function"]["name"] for spec in tool_specs(content)}
    assert content_names == {"search_knowledge", "escalate_to_human"}
    for spec in tool_specs(agent):
        assert spec["function"]["parameters"]["additionalProperties"] is False


def test_tools_are_sent_to_the_model(llm_server: Any, agent: Any, ask: Any) -> None:
    ask(agent, "What is the card fee?")
    request = chat_requests(llm_server)[0]
    sent = {tool["function"]["name"] for tool in request["body"]["tools"]}
    assert sent == {"search_knowledge", "lookup_customer", "prefill_form", "escalate_to_human"}


def test_search_in_an_unreadable_collection_is_refused(
    llm_server: Any,
    agent: Any,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    secret = canary_word("compliance-aml")
    add_document(collections["compliance-aml"], "AML", f"Thresholds {secret} fees.")
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge",
                         "arguments": {"query": "fees", "collection": "compliance-aml"}}]},
        {"content": "I could not search that collection."},
    ]  # fmt: skip
    message = ask(agent, "Search the AML collection for fees")
    second = chat_requests(llm_server)[1]
    result = json.loads(_tool_messages(second)[0]["content"])
    assert "no collection 'compliance-aml'" in result["error"]
    assert all(secret not in prompt_text(r) for r in chat_requests(llm_server))
    assert message.tool_calls[0]["ok"] is False
    assert any(card["type"] == "notice" for card in message.cards)
    refused = AuditEvent.objects.get(action="assistant.tool_refused")
    assert refused.details["tool"] == "search_knowledge"
    answer_event = AuditEvent.objects.get(action="assistant.answer")
    assert answer_event.details["tools"][0] == {
        "name": "search_knowledge",
        "arguments": {"query": "fees", "collection": "compliance-aml"},
        "ok": False,
    }


def test_search_knowledge_adds_citable_sources(
    llm_server: Any,
    agent: Any,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    text = "# Overdraft\n\nThe overdraft fee is 7 euros."
    add_document(collections["products-fees"], "Overdraft", text)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "overdraft fee"}}]},
        {"content": "The overdraft fee is 7 euros [1]."},
    ]
    message = ask(agent, "zzz unrelated words qqq")
    tool_content = _tool_messages(chat_requests(llm_server)[1])[0]["content"]
    assert "The overdraft fee is 7 euros." in tool_content
    assert message.citations and message.citations[0]["type"] == "chunk"
    assert 'class="citation"' in message.content_html


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"form_slug": "card-dispute", "customer_id": "abc"}, "Invalid arguments (customer_id)"),
        ({"form_slug": "card-dispute"}, "'customer_id' is a required property"),
        ({"form_slug": "card-dispute", "customer_id": 1, "extra": 1}, "Additional properties"),
        ('{"form_slug": ', "Invalid JSON arguments"),
    ],
)
def test_arguments_are_checked_against_the_schema(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any], arguments: Any, expected: str
) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form", "arguments": arguments}]},
        {"content": "Sorry."},
    ]
    message = ask(agent, "Start a dispute")
    result = json.loads(_tool_messages(chat_requests(llm_server)[1])[0]["content"])
    assert expected in result["error"]
    assert message.tool_calls[0]["ok"] is False
    assert not FormSubmission.objects.exists()


def test_unknown_tool_is_refused(llm_server: Any, agent: Any, ask: Any) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "delete_everything", "arguments": {}}]},
        {"content": "Done."},
    ]
    message = ask(agent, "Please")
    assert "There is no tool named 'delete_everything'" in message.tool_calls[0]["summary"]


def test_a_tool_the_role_lacks_is_refused(llm_server: Any, make_user: Any, ask: Any) -> None:
    content = make_user("content_tools", Role.CONTENT_MANAGER)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "lookup_customer", "arguments": {"query": "Smith"}}]},
        {"content": "No."},
    ]
    message = ask(content, "Who is Smith?")
    assert "may not use lookup_customer" in message.tool_calls[0]["summary"]
    assert not AuditEvent.objects.filter(action="customer.searched").exists()


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
    assert _tool_messages(chat_requests(llm_server)[1])[0]["content"] == "No customer found."


def test_prefill_form_creates_a_draft_for_the_named_customer(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    customer = _customer_with_card(bank["north"])
    account, txn = _card_transaction(customer)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form", "arguments": {
            "form_slug": "card-dispute", "customer_id": customer.pk, "account_id": account.pk,
            "transaction_id": txn.pk,
            "values": {"reason": "duplicate", "other_reason": "never said this"},
        }}]},
        {"content": "I prepared a draft for you to review."},
    ]  # fmt: skip
    question = f"Start a card dispute for {customer.full_name}: the payment was charged twice"
    message = ask(agent, question)

    submission = FormSubmission.objects.get()
    assert submission.status == SubmissionStatus.DRAFT
    assert submission.submitted_by == agent and submission.customer == customer
    assert submission.transaction == txn
    assert submission.data["customer_name"] == customer.full_name
    assert submission.provenance["customer_name"]["source"] == "customer_record"
    user_message = message.conversation.messages.get(role=MessageRole.USER)
    assert submission.provenance["reason"] == {
        "source": "conversation",
        "message_id": user_message.pk,
        "interpreted": True,
    }
    assert "other_reason" not in submission.data  # the user never said it
    card = next(c for c in message.cards if c["type"] == "prefill")
    assert card["submission_id"] == submission.pk
    assert card["url"] == f"/forms/submissions/{submission.pk}/"
    assert any("other_reason" in d for d in card["dropped"])
    assert AuditEvent.objects.filter(action="form.prefilled", actor=agent).exists()
    assert message.conversation.customer == customer  # named in the question: now in focus


def test_prefill_takes_literal_values_only_from_the_users_words(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    customer = bank["north"][0]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form", "arguments": {
            "form_slug": "address-change", "customer_id": customer.pk,
            "values": {"street": "12 Harbour Road", "city": "Springfield", "country": "Atlantis"},
        }}]},
        {"content": "Draft ready."},
    ]  # fmt: skip
    message = ask(
        agent, f"{customer.customer_number} moved to 12 Harbour Road, Springfield; start the form"
    )
    submission = FormSubmission.objects.get()
    question = message.conversation.messages.get(role=MessageRole.USER)
    assert submission.data["street"] == "12 Harbour Road"
    assert submission.provenance["street"] == {"source": "conversation", "message_id": question.pk}
    assert submission.provenance["city"]["source"] == "conversation"
    assert "country" not in submission.data


def test_prefill_for_a_customer_the_user_did_not_name_is_refused(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    other = bank["north"][1]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form",
                         "arguments": {"form_slug": "card-dispute", "customer_id": other.pk}}]},
        {"content": "Sorry."},
    ]  # fmt: skip
    message = ask(agent, "Start a card dispute")
    assert "was not named by the user" in message.tool_calls[0]["summary"]
    assert not FormSubmission.objects.exists()


def test_prefill_for_another_regions_customer_is_refused(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    south = bank["south"][0]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form",
                         "arguments": {"form_slug": "card-dispute", "customer_id": south.pk}}]},
        {"content": "Sorry."},
    ]  # fmt: skip
    message = ask(agent, f"Start a card dispute for {south.full_name}")
    assert (
        f"no customer with id {south.pk} that this user may see" in message.tool_calls[0]["summary"]
    )
    assert not FormSubmission.objects.exists()
    assert AuditEvent.objects.filter(action="assistant.tool_refused").count() == 1


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


def test_escalate_creates_a_handoff_with_customer_and_draft(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any], regions: dict[str, Any]
) -> None:
    customer = _customer_with_card(bank["north"])
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


def test_tool_rounds_are_capped(llm_server: Any, agent: Any, ask: Any, settings: Any) -> None:
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 2
    call = {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "fees"}}]}
    llm_server.chat_replies = [call, call, {"content": "Final."}]
    message = ask(agent, "fees")
    requests = chat_requests(llm_server)
    assert len(requests) == 3
    assert "tools" not in requests[2]["body"]  # the last round may only answer
    assert message.content == "Final."


def test_conversation_provenance_survives_saves_until_the_person_changes_the_value(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    from forms_app.services.submissions import submission_update_draft

    customer = bank["north"][0]
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form", "arguments": {
            "form_slug": "address-change", "customer_id": customer.pk,
            "values": {"street": "12 Harbour Road", "city": "Springfield"}}}]},
        {"content": "Draft ready."},
    ]  # fmt: skip
    ask(agent, f"{customer.customer_number} moved to 12 Harbour Road, Springfield")
    submission = FormSubmission.objects.get()
    data = {**submission.data, "postal_code": "SP 4000"}
    saved = submission_update_draft(actor=agent, submission=submission, data=data)
    assert saved.provenance["street"]["source"] == "conversation"
    assert saved.provenance["postal_code"] == {"source": "user"}
    changed = submission_update_draft(
        actor=agent, submission=saved, data={**saved.data, "street": "14 Harbour Road"}
    )
    assert changed.provenance["street"] == {"source": "user"}
    assert changed.provenance["city"]["source"] == "conversation"
