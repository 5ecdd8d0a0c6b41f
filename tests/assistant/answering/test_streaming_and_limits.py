"""Streaming events, model failures mid-answer, the rate limit, earlier turns."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from assistant.answering import RateLimited, answer, answer_stream
from assistant.answering.llm import TIMEOUT_MESSAGE
from assistant.models import Message, MessageRole
from assistant.services import conversation_create
from portal.permissions import Role
from tests.assistant.conftest import chat_requests
from tests.knowledge.conftest import add_document, collections  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("stream_agent", Role.AGENT, regions=[regions["north"]])


def test_stream_yields_question_deltas_and_the_stored_answer(
    llm_server: Any,
    agent: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    add_document(collections["products-fees"], "Fees", "# Fees\n\nThe card fee is 5 euros.")
    llm_server.chat_replies = [{"content": "The card fee is 5 euros [1]."}]
    conversation = conversation_create(owner=agent)
    events = list(answer_stream(user=agent, conversation=conversation, text="card fee?"))
    kinds = [event.kind for event in events]
    assert kinds[0] == "question" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) > 4  # several deltas
    streamed = "".join(e.data["text"] for e in events if e.kind == "delta")
    stored = events[-1].data["message"]
    assert streamed == "The card fee is 5 euros [1]."
    assert stored.content == streamed and stored.citations[0]["n"] == 1
    assert Message.objects.get(pk=events[0].data["message_id"]).content == "card fee?"
    assert llm_server.requests[-1]["body"]["stream"] is True


def test_tool_events_are_streamed(llm_server: Any, agent: Any) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "fees"}}]},
        {"content": "Nothing found."},
    ]
    conversation = conversation_create(owner=agent)
    events = list(answer_stream(user=agent, conversation=conversation, text="fees"))
    tool = next(e for e in events if e.kind == "tool")
    assert tool.data["name"] == "search_knowledge" and tool.data["ok"] is True


def test_model_timeout_keeps_the_question_and_says_so(
    llm_server: Any, agent: Any, settings: Any
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.5
    llm_server.delay_seconds = 2
    conversation = conversation_create(owner=agent)
    message = answer(user=agent, conversation=conversation, text="What is the fee?")
    assert message.error == TIMEOUT_MESSAGE and message.content == TIMEOUT_MESSAGE
    questions = conversation.messages.filter(role=MessageRole.USER)  # content is encrypted
    assert "What is the fee?" in questions.values_list("content", flat=True)
    # The conversation goes on once the model is back.
    llm_server.delay_seconds = 0
    again = answer(user=agent, conversation=conversation, text="What is the fee?")
    assert again.error == ""


def test_model_error_during_tool_round_keeps_the_conversation(llm_server: Any, agent: Any) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "fees"}}]},
    ]
    llm_server.fail_next = 0
    conversation = conversation_create(owner=agent)
    stream = answer_stream(user=agent, conversation=conversation, text="fees please")
    events = []
    for event in stream:
        events.append(event)
        if event.kind == "tool":
            llm_server.fail_next = 1  # the second round fails
    message = events[-1].data["message"]
    assert "HTTP 500" in message.error
    assert message.tool_calls[0]["name"] == "search_knowledge"


def test_rate_limit_refuses_without_storing(
    agent: Any, without_llm: None, settings: Any, make_user: Any
) -> None:
    settings.ASSISTANT_RATE_LIMIT_PER_MINUTE = 2
    conversation = conversation_create(owner=agent)
    answer(user=agent, conversation=conversation, text="one")
    answer(user=agent, conversation=conversation, text="two")
    with pytest.raises(RateLimited) as refused:
        answer(user=agent, conversation=conversation, text="three")
    assert refused.value.status_code == 429
    assert 1 <= refused.value.extra["retry_after"] <= 60
    assert "2 questions in the last minute" in refused.value.message
    assert "three" not in Message.objects.values_list("content", flat=True)  # encrypted column
    # Another user is not affected.
    other_user = make_user("other_rl", Role.AGENT)
    other = conversation_create(owner=other_user)
    assert answer(user=other_user, conversation=other, text="one").role == "assistant"


def test_earlier_turns_reach_the_model_without_stale_citations(llm_server: Any, agent: Any) -> None:
    llm_server.chat_replies = [{"content": "Standard cards cost 5 euros [1]."}, {"content": "Ok."}]
    conversation = conversation_create(owner=agent)
    answer(user=agent, conversation=conversation, text="How much is a standard card?")
    answer(user=agent, conversation=conversation, text="and gold?")
    messages = chat_requests(llm_server)[1]["body"]["messages"]
    assert messages[1] == {"role": "user", "content": "How much is a standard card?"}
    assert messages[2] == {"role": "assistant", "content": "Standard cards cost 5 euros."}
    assert messages[-1]["content"].endswith("Question: and gold?")


def test_only_the_owner_may_ask(agent: Any, make_user: Any, regions: dict[str, Any]) -> None:
    conversation = conversation_create(owner=agent)
    other = make_user("other_agent", Role.AGENT, regions=[regions["north"]])
    with pytest.raises(conversation.DoesNotExist):
        answer(user=other, conversation=conversation, text="hello")
    robot = make_user("robot_a", Role.INTEGRATION)
    with pytest.raises(PermissionDenied):
        answer(user=robot, conversation=conversation, text="hello")


def test_extractive_answer_offers_the_named_customer(
    agent: Any, without_llm: None, ask: Any, bank: dict[str, Any]
) -> None:
    customer = bank["north"][0]
    message = ask(agent, f"Start an address change for {customer.full_name}")
    assert {"type": "customer", "customer_id": customer.pk}.items() <= message.cards[0].items()
    assert message.conversation.customer_id == customer.pk


def test_an_abandoned_stream_still_stores_and_audits_the_answer(
    llm_server: Any, agent: Any
) -> None:
    from portal.models import AuditEvent

    llm_server.chat_replies = [{"content": "A long answer in several words."}]
    conversation = conversation_create(owner=agent)
    stream = answer_stream(user=agent, conversation=conversation, text="fees?")
    assert next(stream).kind == "question"
    assert next(stream).kind == "delta"
    stream.close()  # what Django does when the client disconnects
    stored = conversation.messages.get(role=MessageRole.ASSISTANT)
    assert stored.content == "A long answer in several words."
    assert AuditEvent.objects.filter(action="assistant.answer").count() == 1
