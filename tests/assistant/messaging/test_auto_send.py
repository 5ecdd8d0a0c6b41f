"""Automatic sending: off by default; where the bank lists a category, a ready draft citing
only customer-facing sources and proposing no form goes to the customer without a person,
marked as automatic, and a sample waits for a supervisor's review."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from assistant.messaging.models import Draft, DraftStatus, SampleReview, SecureMessage, Thread
from assistant.messaging.services.drafting import draft_write
from assistant.messaging.services.threads import (
    auto_reply_review,
    draft_auto_send,
    message_retract,
    thread_start,
)
from portal.models import AuditEvent
from tests.assistant.messaging.conftest import token_client

pytestmark = pytest.mark.django_db

QUESTION = "Within how many days after the statement date must I tell you about a card payment?"


def _drafted(customer_user: Any, category: str = "general", body: str = QUESTION) -> Draft:
    thread = thread_start(user=customer_user, subject="Deadline", category=category, body=body)
    draft = draft_write(Draft.objects.get(thread=thread).pk)
    assert draft is not None and draft.status == DraftStatus.READY
    return draft


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def auto_general(settings: Any) -> Any:
    settings.SECURE_AUTO_SEND_CATEGORIES = ["general"]
    settings.SECURE_AUTO_SEND_REVIEW_PERCENT = 100
    return settings


def test_off_by_default_nothing_is_sent_without_a_person(
    customer_user: Any, policies: dict[str, Any], without_llm: None
) -> None:
    draft = _drafted(customer_user)
    assert draft.confidence == "sources"
    assert draft_auto_send(draft.pk) is None
    draft.refresh_from_db()
    assert draft.status == DraftStatus.READY
    assert not SecureMessage.objects.filter(author_kind="staff").exists()


def test_a_listed_category_is_sent_marked_and_sampled_for_review(
    customer_user: Any,
    staff: dict[str, Any],
    policies: dict[str, Any],
    without_llm: None,
    auto_general: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    draft = _drafted(customer_user)
    with django_capture_on_commit_callbacks() as queued:
        reply = draft_auto_send(draft.pk)
    assert reply is not None and reply.auto_sent and reply.author is None
    assert reply.body == draft.body and "60 days" in reply.body
    assert reply.review == SampleReview.PENDING
    # The customer's e-mail notification is queued once the reply commits.
    assert any("_notify_customer" in getattr(c, "__qualname__", "") for c in queued)
    draft.refresh_from_db()
    thread = Thread.objects.get(pk=draft.thread_id)
    assert draft.status == DraftStatus.SENT and thread.status == "awaiting_customer"
    assert thread.waiting_since is None
    event = AuditEvent.objects.get(action="messaging.reply_auto_sent")
    assert event.actor_username == "assistant" and event.details["sampled_for_review"] is True
    assert event.details["collections"] == ["customer-help"]
    assert draft_auto_send(draft.pk) is None  # sent once
    # The customer sees it marked as automatic.
    page = _client(customer_user).get(f"/secure/threads/{thread.pk}/").content.decode()
    assert "data-auto-sent" in page and "60 days" in page
    # The supervisor of the region finds it in the inbox and on the dashboard.
    supervisor = _client(staff["supervisor"])
    inbox = supervisor.get("/messages/?review=pending&status=").content.decode()
    assert f'data-thread="{thread.pk}"' in inbox
    assert "data-reviews-pending" in supervisor.get("/").content.decode()
    # An agent may not review it; a concern needs a note; then it is recorded once.
    with pytest.raises(PermissionDenied):
        auto_reply_review(user=staff["agent"], message=reply, verdict="fine")
    with pytest.raises(ValidationError, match="Say what is wrong"):
        auto_reply_review(user=staff["supervisor"], message=reply, verdict="concern")
    response = supervisor.post(
        f"/messages/replies/{reply.pk}/review/",
        {"verdict": "concern", "note": "Should have mentioned the provisional refund."},
    )
    assert response.status_code == 302
    reply.refresh_from_db()
    assert reply.review == SampleReview.CONCERN and reply.reviewed_by == staff["supervisor"]
    assert reply.review_note.startswith("Should have")
    with pytest.raises(ValidationError, match="not waiting"):
        auto_reply_review(user=staff["supervisor"], message=reply, verdict="fine")
    assert AuditEvent.objects.filter(action="messaging.auto_reply_reviewed").count() == 1
    # The customer never sees the review.
    page = _client(customer_user).get(f"/secure/threads/{thread.pk}/").content.decode()
    assert "provisional refund" not in page


@pytest.mark.parametrize(
    "reason", ["category", "form", "no_sources", "not_customer_facing", "needs_a_person", "model"]
)
def test_what_is_never_sent_automatically(
    customer_user: Any,
    policies: dict[str, Any],
    without_llm: None,
    auto_general: Any,
    reason: str,
) -> None:
    if reason == "category":
        draft = _drafted(customer_user, category="fraud")
    elif reason == "form":  # a dispute: the form needs an agent's binding
        draft = _drafted(customer_user, body="I want to dispute a card payment.")
        assert draft.form_proposal.get("form") == "card-dispute"
    elif reason == "no_sources":
        draft = _drafted(customer_user, body="zzqx vvbn wwrt")
        assert draft.confidence == "none"
    elif reason == "needs_a_person":  # filed as "general", but a stolen card
        draft = _drafted(customer_user, body=f"My card was stolen. {QUESTION}")
    elif reason == "model":  # written by a model: the customer's words may have steered it
        draft = _drafted(customer_user)
        Draft.objects.filter(pk=draft.pk).update(model_name="some-llm")
    else:
        draft = _drafted(customer_user)
        # The collection stopped being customer-facing after the draft was written.
        policies["public"].collection.customer_facing = False
        policies["public"].collection.save()
    assert draft_auto_send(draft.pk) is None
    draft.refresh_from_db()
    assert draft.status == DraftStatus.READY  # waits for a person
    declined = AuditEvent.objects.filter(action="messaging.auto_send_declined")
    if reason != "category":
        assert declined.get().details["reason"] == reason


def test_no_sample_when_the_percentage_is_zero_and_supervisors_may_withdraw(
    customer_user: Any,
    staff: dict[str, Any],
    policies: dict[str, Any],
    without_llm: None,
    auto_general: Any,
) -> None:
    auto_general.SECURE_AUTO_SEND_REVIEW_PERCENT = 0
    draft = _drafted(customer_user)
    reply = draft_auto_send(draft.pk)
    assert reply is not None and reply.review == SampleReview.NONE
    # Nobody wrote it: only a supervisor withdraws it (before it is read).
    with pytest.raises(PermissionDenied):
        message_retract(user=staff["agent"], message=reply)
    message_retract(user=staff["supervisor"], message=reply)
    assert Thread.objects.get(pk=draft.thread_id).status == "awaiting_bank"


def test_the_api_lists_and_reviews_automatic_replies(
    customer_user: Any,
    staff: dict[str, Any],
    policies: dict[str, Any],
    without_llm: None,
    auto_general: Any,
) -> None:
    reply = draft_auto_send(_drafted(customer_user).pk)
    assert reply is not None
    client = token_client(staff["supervisor"])
    listed = client.get("/api/v1/threads/?review=pending&status=").json()["results"]
    assert [t["id"] for t in listed] == [reply.thread_id]
    detail = client.get(f"/api/v1/threads/{reply.thread_id}/").json()
    sent = next(m for m in detail["messages"] if m["id"] == reply.pk)
    assert sent["auto_sent"] is True and sent["review"] == "pending"
    assert (
        client.post(
            f"/api/v1/secure-messages/{reply.pk}/review/", {"verdict": "maybe"}, format="json"
        ).status_code
        == 400
    )
    reviewed = client.post(
        f"/api/v1/secure-messages/{reply.pk}/review/", {"verdict": "fine"}, format="json"
    )
    assert reviewed.status_code == 200 and reviewed.json()["review"] == "fine"
    assert client.get("/api/v1/threads/?review=pending&status=").json()["results"] == []


def test_a_misspelt_category_is_a_configuration_error(settings: Any) -> None:
    settings.SECURE_AUTO_SEND_CATEGORIES = ["genral"]
    with pytest.raises(SystemCheckError, match="genral"):
        call_command("check")
