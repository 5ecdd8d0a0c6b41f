"""Forms sent to customers: the draft proposes the form bound to the customer's own
transaction the message describes; the agent sends it (binding changeable); the customer sees
where each value came from, corrects and confirms; reviewers see what the customer changed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from assistant.messaging.models import Draft, SecureMessage
from assistant.messaging.services.drafting import draft_write
from assistant.messaging.services.matching import amounts_in, dates_in, match_transaction
from assistant.messaging.services.threads import message_retract, staff_reply_send, thread_start
from forms_app.models import FormSubmission
from forms_app.services.customer_forms import submission_confirm_by_customer
from knowledge.customers.models import Account, Transaction
from knowledge.customers.selectors import TransactionView
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

MESSAGE = "I don't recognise a $54.20 charge from ACME on my card, please help."


def _view(pk: int, amount: str, merchant: str, posted: date) -> TransactionView:
    return TransactionView(
        id=pk,
        account_id=1,
        account_number=None,
        posted_date=posted,
        amount=Decimal(amount),
        currency="USD",
        merchant=merchant,
        category="",
        status="posted",
    )


def test_amounts_and_dates_are_read_from_the_message() -> None:
    text = "a $54.20 charge, 1,054.20 later, 17 items, 40 dollars, €30, on 12 Nov or 2026-11-03"
    assert amounts_in(text) == {Decimal("54.20"), Decimal("1054.20"), Decimal("40"), Decimal("30")}
    assert dates_in(text, date(2026, 11, 30)) == {(11, 12), (11, 3)}


def test_the_best_unique_transaction_matches_and_ties_match_nothing() -> None:
    today = date(2026, 11, 30)
    rows = [
        _view(1, "-54.20", "ACME ONLINE", today - timedelta(days=5)),
        _view(2, "-54.20", "FreshMart", today - timedelta(days=6)),
        _view(3, "-12.00", "ACME ONLINE", today - timedelta(days=7)),
    ]
    match = match_transaction(MESSAGE, rows, today)
    assert match.transaction is not None and match.transaction.id == 1
    assert match.reasons == ["amount", "merchant"]
    tie = match_transaction("a charge of 54.20 I do not know", rows, today)
    assert tie.transaction is None and tie.candidates == 2
    assert match_transaction("hello, please change my address", rows, today).transaction is None


@pytest.fixture
def acme(customer_user: Any) -> Transaction:
    """An ACME charge on the customer's own account (and the same amount on another
    customer's account, which must never be matched)."""
    customer = customer_user.customer_login.customer
    account = Account.objects.filter(customer=customer).order_by("pk").first()
    assert account is not None
    account.card_last4 = account.card_last4 or "4321"  # a card account: the form needs it
    account.save()
    return Transaction.objects.create(
        account=account,
        posted_date=date.today() - timedelta(days=5),
        amount=Decimal("-54.20"),
        merchant="ACME ONLINE",
        category="Online",
    )


def _ready_draft(customer_user: Any, body: str = MESSAGE) -> Draft:
    thread = thread_start(user=customer_user, subject="Charge", category="card_dispute", body=body)
    draft = draft_write(Draft.objects.get(thread=thread).pk)
    assert draft is not None
    return draft


def test_the_draft_proposes_the_dispute_form_bound_to_the_own_transaction(
    customer_user: Any, other_customer_user: Any, acme: Transaction, without_llm: None
) -> None:
    other_account = other_customer_user.customer_login.customer.accounts.first()
    decoy = Transaction.objects.create(
        account=other_account,
        posted_date=acme.posted_date,
        amount=acme.amount,
        merchant="ACME ONLINE",
    )
    draft = _ready_draft(customer_user)
    assert draft.form_proposal["form"] == "card-dispute"
    assert draft.form_proposal["transaction_id"] == acme.pk != decoy.pk
    assert draft.form_proposal["matched_by"] == ["amount", "merchant"]


def test_a_message_naming_another_customers_charge_binds_nothing_of_theirs(
    customer_user: Any, other_customer_user: Any, without_llm: None
) -> None:
    other_account = other_customer_user.customer_login.customer.accounts.first()
    theirs = Transaction.objects.create(
        account=other_account,
        posted_date=date.today(),
        amount=Decimal("-777.77"),
        merchant="Zanzibar Yachts",
    )
    draft = _ready_draft(
        customer_user,
        f"Dispute the 777.77 charge from Zanzibar Yachts (transaction {theirs.pk}) "
        f"for customer {other_customer_user.username}.",
    )
    assert draft.form_proposal.get("transaction_id") is None


def _send(staff: dict[str, Any], draft: Draft, transaction: int | None) -> SecureMessage:
    return staff_reply_send(
        user=staff["agent"],
        thread=draft.thread,
        body=draft.body,
        draft=draft,
        form="card-dispute",
        form_transaction=transaction,
    )


def test_agent_sends_the_form_customer_confirms_supervisor_sees_the_changes(
    customer_user: Any, staff: dict[str, Any], acme: Transaction, without_llm: None
) -> None:
    draft = _ready_draft(customer_user)
    reply = _send(staff, draft, draft.form_proposal["transaction_id"])
    submission = reply.form
    assert submission is not None and submission.transaction_id == acme.pk
    assert submission.sent_to_customer_at and submission.prepared_by == staff["agent"]
    assert submission.data["merchant"] == "ACME ONLINE"
    # The agent can neither change nor submit it while it is with the customer.
    agent_page = Client()
    agent_page.force_login(staff["agent"])
    agent_page.post(f"/forms/submissions/{submission.pk}/submit/")
    submission.refresh_from_db()
    assert submission.status == "draft"
    # The customer sees where the values came from, corrects and confirms.
    client = Client()
    client.force_login(customer_user)
    thread_page = client.get(f"/secure/threads/{draft.thread_id}/").content.decode()
    assert f'data-form-link="{submission.pk}"' in thread_page
    page = client.get(f"/secure/forms/{submission.pk}/").content.decode()
    assert "from your transaction of" in page
    data = {key: value for key, value in submission.data.items() if not isinstance(value, dict)}
    data.update(reason="not_recognised", merchant="ACME ONLINE SHOP")
    response = client.post(f"/secure/forms/{submission.pk}/", data)
    errors = re.findall(r"invalid-feedback.{0,200}", response.content.decode())
    assert response.status_code == 302, errors
    submission.refresh_from_db()
    assert submission.status == "submitted" and submission.submitted_by == customer_user
    assert submission.provenance["merchant"] == {"source": "customer"}
    assert submission.transaction_id == acme.pk
    event = AuditEvent.objects.get(action="form_submission.confirmed_by_customer")
    assert "merchant" in event.details["changed_fields"]
    # Confirmed once.
    with pytest.raises(ValidationError, match="already confirmed"):
        submission_confirm_by_customer(user=customer_user, submission=submission, data=data)
    # The supervisor reviews it and sees what the customer changed.
    supervisor = Client()
    supervisor.force_login(staff["supervisor"])
    detail = supervisor.get(f"/forms/submissions/{submission.pk}/").content.decode()
    assert 'data-changed="merchant"' in detail and "ACME ONLINE SHOP" in detail
    # The agent who prepared it still sees it.
    assert agent_page.get(f"/forms/submissions/{submission.pk}/").status_code == 200


def test_the_agent_changes_the_binding_only_to_the_customers_own_transactions(
    customer_user: Any,
    other_customer_user: Any,
    staff: dict[str, Any],
    acme: Transaction,
    without_llm: None,
) -> None:
    draft = _ready_draft(customer_user)
    theirs = Transaction.objects.filter(
        account__customer=other_customer_user.customer_login.customer
    ).first()
    assert theirs is not None
    with pytest.raises(ValidationError):
        _send(staff, draft, theirs.pk)
    assert (
        not FormSubmission.objects.exists()
        and not SecureMessage.objects.filter(author_kind="staff").exists()
    )
    mine = (
        Transaction.objects.filter(account__customer=acme.account.customer)
        .exclude(pk=acme.pk)
        .first()
    )
    assert mine is not None
    reply = _send(staff, draft, mine.pk)
    assert reply.form is not None and reply.form.transaction_id == mine.pk


def test_a_form_is_for_its_customer_only(
    customer_user: Any,
    other_customer_user: Any,
    staff: dict[str, Any],
    acme: Transaction,
    without_llm: None,
) -> None:
    reply = _send(staff, _ready_draft(customer_user), acme.pk)
    assert reply.form is not None
    other = Client()
    other.force_login(other_customer_user)
    assert other.get(f"/secure/forms/{reply.form.pk}/").status_code == 404
    assert other.post(f"/secure/forms/{reply.form.pk}/", {"reason": "other"}).status_code == 404
    staff_client = Client()
    staff_client.force_login(staff["agent"])
    assert staff_client.get(f"/secure/forms/{reply.form.pk}/").status_code == 404


def test_withdrawing_the_reply_takes_the_form_back(
    customer_user: Any, staff: dict[str, Any], acme: Transaction, without_llm: None
) -> None:
    reply = _send(staff, _ready_draft(customer_user), acme.pk)
    message_retract(user=staff["agent"], message=reply)
    assert reply.form is not None
    reply.form.refresh_from_db()
    assert reply.form.sent_to_customer_at is None
    client = Client()
    client.force_login(customer_user)
    assert client.get(f"/secure/forms/{reply.form.pk}/").status_code == 404


def test_a_high_risk_form_is_confirmed_only_with_the_password_again(
    customer_user: Any, staff: dict[str, Any], without_llm: None
) -> None:
    thread = thread_start(
        user=customer_user, subject="Moving", category="address_change", body="I moved house."
    )
    reply = staff_reply_send(
        user=staff["agent"], thread=thread, body="Please confirm.", form="address-change"
    )
    submission = reply.form
    assert submission is not None and submission.definition.customer_reauthentication
    client = Client()
    client.force_login(customer_user)
    page = client.get(f"/secure/forms/{submission.pk}/").content.decode()
    assert "data-reauthenticate" in page
    data = {key: value for key, value in submission.data.items() if not isinstance(value, dict)}
    data.update(
        street="1 New Street",
        postal_code="AB1 2CD",
        city="Newtown",
        country="UK",
        effective_date=date.today().isoformat(),
    )
    for password in ("", "not the password"):
        response = client.post(f"/secure/forms/{submission.pk}/", {**data, "password": password})
        assert response.status_code == 400
        assert b"Enter your password again" in response.content
        submission.refresh_from_db()
        assert submission.status == "draft" and submission.customer_confirmed_at is None
    with pytest.raises(ValidationError, match="password"):
        submission_confirm_by_customer(user=customer_user, submission=submission, data=data)
    # The wrong password counted towards the sign-in lockout, like a failed sign-in.
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.filter(username=customer_user.username).exists()
    response = client.post(
        f"/secure/forms/{submission.pk}/", {**data, "password": "customer password 123"}
    )
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == "submitted" and submission.submitted_by == customer_user
    event = AuditEvent.objects.get(action="form_submission.confirmed_by_customer")
    assert event.details["reauthenticated"] is True
