"""Hand-offs: who sees them and the conversations behind them; assign and resolve; feedback."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assistant.answering import answer
from assistant.models import Conversation, Feedback, Handoff, HandoffStatus, Message
from assistant.selectors import (
    conversation_get,
    conversation_list,
    handoff_get,
    handoff_queue,
    handoffs_open_count,
)
from assistant.services import (
    conversation_create,
    feedback_record,
    handoff_assign,
    handoff_create,
    handoff_resolve,
)
from portal.audit import fingerprint
from portal.models import AuditEvent
from portal.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    north, south = regions["north"], regions["south"]
    return {
        "agent": make_user("h_agent", Role.AGENT, regions=[north]),
        "other_agent": make_user("h_agent2", Role.AGENT, regions=[north]),
        "supervisor": make_user("h_sup", Role.SUPERVISOR, regions=[north]),
        "supervisor2": make_user("h_sup2", Role.SUPERVISOR, regions=[north]),
        "south_supervisor": make_user("h_sup_s", Role.SUPERVISOR, regions=[south]),
        "compliance": make_user("h_comp", Role.COMPLIANCE),
    }


@pytest.fixture
def handed_off(people: dict[str, Any], without_llm: None) -> Handoff:
    conversation = conversation_create(owner=people["agent"], title="Angry customer")
    answer(user=people["agent"], conversation=conversation, text="What is the card fee?")
    return handoff_create(
        actor=people["agent"], conversation=conversation, reason="Needs a supervisor"
    )


def test_handoff_lands_in_the_region_queue(
    people: dict[str, Any], handed_off: Handoff, regions: dict[str, Any]
) -> None:
    assert handed_off.region == regions["north"] and handed_off.status == HandoffStatus.OPEN
    assert list(handoff_queue(people["supervisor"])) == [handed_off]
    assert handoffs_open_count(people["supervisor"]) == 1
    assert not handoff_queue(people["south_supervisor"]).exists()
    assert not handoff_queue(people["agent"]).exists()  # agents have no queue
    assert not handoff_queue(people["compliance"]).exists()  # no manage_handoffs
    event = AuditEvent.objects.get(action="assistant.handoff_create")
    assert event.details["reason"] == fingerprint("Needs a supervisor")  # typed text


def test_supervisor_of_the_region_reads_the_handed_off_conversation(
    people: dict[str, Any], handed_off: Handoff
) -> None:
    conversation = handed_off.conversation
    assert conversation_get(people["supervisor"], conversation.pk) == conversation
    # Read-only: it is not one of theirs, and they may not ask in it.
    assert conversation not in conversation_list(people["supervisor"])
    with pytest.raises(PermissionDenied):
        answer(user=people["supervisor"], conversation=conversation, text="hi")
    for outsider in ("south_supervisor", "other_agent", "compliance"):
        with pytest.raises(Conversation.DoesNotExist):
            conversation_get(people[outsider], conversation.pk)


def test_conversation_not_handed_off_stays_private(people: dict[str, Any]) -> None:
    conversation = conversation_create(owner=people["agent"])
    with pytest.raises(Conversation.DoesNotExist):
        conversation_get(people["supervisor"], conversation.pk)


def test_second_escalation_returns_the_open_handoff(
    people: dict[str, Any], handed_off: Handoff
) -> None:
    again = handoff_create(
        actor=people["agent"], conversation=handed_off.conversation, reason="Again"
    )
    assert again == handed_off and Handoff.objects.count() == 1


def test_only_the_owner_escalates_and_a_reason_is_needed(
    people: dict[str, Any], handed_off: Handoff
) -> None:
    conversation = conversation_create(owner=people["agent"])
    with pytest.raises(ValidationError):
        handoff_create(actor=people["agent"], conversation=conversation, reason="  ")
    with pytest.raises(Conversation.DoesNotExist):
        handoff_create(actor=people["other_agent"], conversation=conversation, reason="x y z")
    with pytest.raises(PermissionDenied):  # can read it, but is not the asker
        handoff_create(
            actor=people["supervisor"], conversation=handed_off.conversation, reason="mine now"
        )


def test_assign_and_resolve(people: dict[str, Any], handed_off: Handoff) -> None:
    supervisor = people["supervisor"]
    with pytest.raises(Handoff.DoesNotExist):
        handoff_assign(actor=people["south_supervisor"], handoff=handed_off)
    with pytest.raises(ValidationError):  # an agent is no supervisor of the region
        handoff_assign(actor=supervisor, handoff=handed_off, assignee=people["other_agent"])
    assigned = handoff_assign(actor=supervisor, handoff=handed_off, assignee=people["supervisor2"])
    assert assigned.assignee == people["supervisor2"]
    assert assigned.status == HandoffStatus.ASSIGNED
    mine = handoff_assign(actor=supervisor, handoff=handed_off)
    assert mine.assignee == supervisor
    with pytest.raises(ValidationError):
        handoff_resolve(actor=supervisor, handoff=handed_off, notes="")
    resolved = handoff_resolve(actor=supervisor, handoff=handed_off, notes="Called the customer")
    assert resolved.status == HandoffStatus.RESOLVED and resolved.resolved_at is not None
    assert not handoff_queue(supervisor).exists()
    assert list(handoff_queue(supervisor, include_resolved=True)) == [resolved]
    with pytest.raises(ValidationError):
        handoff_assign(actor=supervisor, handoff=resolved)
    # After resolution the agent may hand off again: a new hand-off.
    again = handoff_create(
        actor=people["agent"], conversation=handed_off.conversation, reason="Still angry"
    )
    assert again.pk != handed_off.pk
    actions = list(
        AuditEvent.objects.filter(action__startswith="assistant.handoff_")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "assistant.handoff_create",
        "assistant.handoff_assign",
        "assistant.handoff_assign",
        "assistant.handoff_resolve",
        "assistant.handoff_create",
    ]


def test_handoff_get_follows_visibility(people: dict[str, Any], handed_off: Handoff) -> None:
    assert handoff_get(people["agent"], handed_off.pk) == handed_off
    assert handoff_get(people["supervisor"], handed_off.pk) == handed_off
    with pytest.raises(Handoff.DoesNotExist):
        handoff_get(people["other_agent"], handed_off.pk)


def test_feedback_is_the_askers_and_can_change(people: dict[str, Any], handed_off: Handoff) -> None:
    reply = handed_off.conversation.messages.get(role="assistant")
    feedback = feedback_record(user=people["agent"], message=reply, helpful=True)
    assert feedback.helpful is True
    changed = feedback_record(
        user=people["agent"], message=reply, helpful=False, comment="Outdated fee"
    )
    assert changed.pk == feedback.pk and Feedback.objects.get().comment == "Outdated fee"
    with pytest.raises(PermissionDenied):  # reads it, but did not ask
        feedback_record(user=people["supervisor"], message=reply, helpful=True)
    with pytest.raises(Message.DoesNotExist):
        feedback_record(user=people["other_agent"], message=reply, helpful=True)
    question = handed_off.conversation.messages.get(role="user")
    with pytest.raises(PermissionDenied):
        feedback_record(user=people["agent"], message=question, helpful=True)
    assert AuditEvent.objects.filter(action="assistant.feedback").count() == 2


def test_a_handoff_carries_only_a_submission_of_the_asker(
    people: dict[str, Any], bank: dict[str, Any]
) -> None:
    from forms_app.selectors import definition_get
    from forms_app.services.submissions import submission_create_draft

    def draft(user: Any) -> Any:
        definition = definition_get(user, "address-change")
        return submission_create_draft(actor=user, definition=definition, customer=bank["north"][0])

    conversation = conversation_create(owner=people["agent"])
    with pytest.raises(ValidationError):
        handoff_create(
            actor=people["agent"],
            conversation=conversation,
            reason="Please check",
            submission=draft(people["other_agent"]),
        )
    own = draft(people["agent"])
    handoff = handoff_create(
        actor=people["agent"], conversation=conversation, reason="Please check", submission=own
    )
    assert handoff.submission == own
