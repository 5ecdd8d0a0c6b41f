"""prefill_form: drafts for customers the user named, values from the user's own words."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.models import MessageRole
from forms_app.models import FormSubmission, SubmissionStatus
from portal.models import AuditEvent
from tests.assistant.tools.conftest import card_transaction, customer_with_card

pytestmark = pytest.mark.django_db


def test_prefill_form_creates_a_draft_for_the_named_customer(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any]
) -> None:
    customer = customer_with_card(bank["north"])
    account, txn = card_transaction(customer)
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
