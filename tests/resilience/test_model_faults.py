"""The language model slow, failing, cut off mid-answer, sending garbage, or calling tools
wrongly or without end: the user gets a clear message, the conversation stays consistent
(the question stored, then exactly one answer or error message, never a partial one) and
the audit trail records what happened.

Against a real HTTP server speaking the OpenAI protocol (tests/support/openai_server.py),
through the portal's own client; the database and everything else real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistant.answering import answer
from assistant.answering.llm import (
    CONNECTION_MESSAGE,
    GENERIC_MESSAGE,
    INCOMPLETE_MESSAGE,
    TIMEOUT_MESSAGE,
)
from assistant.answering.model_answer import gave_up_message
from assistant.models import Conversation, Message, MessageRole
from assistant.services import conversation_create
from portal.audit import fingerprint
from portal.models import AuditEvent
from portal.permissions import Role
from tests.support.openai_server import FakeOpenAI, fake_openai_as_portal_model

pytestmark = pytest.mark.django_db

SEARCH = {"name": "search_knowledge", "arguments": {"query": "card fees"}}


@pytest.fixture
def model(settings: Any) -> Iterator[FakeOpenAI]:
    with fake_openai_as_portal_model(settings, timeout=5) as fake:
        yield fake


@pytest.fixture
def agent(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("fault_agent", Role.AGENT, regions=[regions["north"]])


def _chats(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"].endswith("/chat/completions")]


def _ask(agent: Any, conversation: Conversation, question: str) -> Message:
    reply = answer(user=agent, conversation=conversation, text=question)
    _assert_consistent(conversation, question, reply)
    return reply


def _assert_consistent(conversation: Conversation, question: str, reply: Message) -> None:
    """The question, then this one answer, last in the conversation; its audit event says
    the same (error included)."""
    last_two = list(conversation.messages.order_by("-created_at", "-pk")[:2])[::-1]
    assert [(m.role, m.pk) for m in last_two] == [
        (MessageRole.USER, last_two[0].pk),
        (MessageRole.ASSISTANT, reply.pk),
    ]
    assert last_two[0].content == question
    assert reply.content.strip()
    if reply.error:
        assert reply.content == reply.error  # the message, nothing half-streamed with it
    event = AuditEvent.objects.get(action="assistant.answer", target_id=str(reply.pk))
    assert event.details["error"] == reply.error
    assert event.details["question"] == fingerprint(question)  # portal.audit


def test_a_slow_model_times_out_with_a_clear_message(
    model: FakeOpenAI, agent: Any, settings: Any
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.5
    model.delay_seconds = 2
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error == TIMEOUT_MESSAGE
    # Slow between events rather than before the first: the same (the read timeout).
    model.delay_seconds = 0
    model.stream_delay_seconds = 1
    reply = _ask(agent, conversation, "And a gold card?")
    assert reply.error == TIMEOUT_MESSAGE
    # The conversation goes on once the model is back.
    model.stream_delay_seconds = 0
    reply = _ask(agent, conversation, "And a gold card?")
    assert reply.error == "" and conversation.messages.count() == 6


def test_a_failing_or_unreachable_model_gives_a_clear_message(
    model: FakeOpenAI, agent: Any, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 1
    model.fail_next = 2  # the request and its retry
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert "HTTP 500" in reply.error and "your question is kept" in reply.error
    assert len(_chats(model)) == 2
    # A retry that succeeds is invisible to the user.
    model.fail_next = 1
    assert _ask(agent, conversation, "Again?").error == ""

    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    assert _ask(agent, conversation, "Still there?").error == CONNECTION_MESSAGE


def test_a_stream_cut_off_mid_answer_is_not_stored_as_the_answer(
    model: FakeOpenAI, agent: Any
) -> None:
    """The connection closes after a few words (a proxy or the server dying): the words
    streamed so far must not be stored as if they were the whole answer."""
    model.chat_replies = [{"content": "Replacement cards cost ten euros unless", "cut_after": 3}]
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error == INCOMPLETE_MESSAGE
    assert "Replacement" not in reply.content


@pytest.mark.parametrize(
    "events",
    [
        ['{"id": "x", "choices": [{"index": 0, "delta": {"content": "Hal'],  # invalid JSON
        ['{"error": {"message": "overloaded", "type": "server_error"}}'],  # an error event
        ['{"id": "x", "object": "chat.completion.chunk", "choices": "nope"}'],  # wrong shape
    ],
    ids=["invalid-json", "error-event", "wrong-shape"],
)
def test_a_malformed_stream_gives_a_clear_message(
    model: FakeOpenAI, agent: Any, events: list[str]
) -> None:
    model.chat_replies = [{"raw_events": events}]
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error in (GENERIC_MESSAGE, INCOMPLETE_MESSAGE)
    assert "your question is kept" in reply.error


def test_malformed_tool_calls_are_refused_and_the_answer_goes_on(
    model: FakeOpenAI, agent: Any
) -> None:
    model.chat_replies = [
        {
            "tool_calls": [
                {"name": "search_knowledge", "arguments": '{"query": "fees"'},  # invalid JSON
                {"name": "transfer_money", "arguments": {"amount": 10**6}},  # no such tool
                {"name": "search_knowledge", "arguments": '["fees"]'},  # not an object
                {"name": "search_knowledge", "arguments": {"query": 5, "x": 1}},  # schema
                {"name": "", "arguments": {}},  # no name
            ]
        },
        {"content": "I could not look that up."},
    ]
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error == "" and reply.content == "I could not look that up."
    assert [(call["name"], call["ok"]) for call in reply.tool_calls] == [
        ("search_knowledge", False),
        ("transfer_money", False),
        ("search_knowledge", False),
        ("search_knowledge", False),
        ("", False),
    ]
    refused = AuditEvent.objects.filter(action="assistant.tool_refused")
    assert refused.count() == 5
    assert {e.details["refusal"] for e in refused} == {
        "unreadable_call",
        "unknown_tool",
        "invalid_arguments",
    }
    # The reasons' words are in the answer's tool calls (the trail keeps fingerprints).
    assert {call["summary"].split(" refused: ")[1][:22] for call in reply.tool_calls} >= {
        "Invalid JSON arguments",
        "There is no tool named",
        "The arguments are not ",
    }
    # The model was told each refusal, answering each call id.
    second = _chats(model)[1]["body"]["messages"]
    assert [m["tool_call_id"] for m in second if m["role"] == "tool"] == [
        "call_1",
        "call_2",
        "call_3",
        "call_4",
        "call_5",
    ]


def test_tool_calls_are_capped_per_answer(model: FakeOpenAI, agent: Any, settings: Any) -> None:
    """A model that calls tools without end: at most ASSISTANT_MAX_TOOL_CALLS calls are run
    in one answer, then the answer ends with a clear message."""
    settings.ASSISTANT_MAX_TOOL_CALLS = 4
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 10
    model.repeat_reply = {"tool_calls": [SEARCH]}
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error == gave_up_message(4)
    assert len(reply.tool_calls) == 4 and all(call["ok"] for call in reply.tool_calls)
    chats = _chats(model)
    assert len(chats) == 5  # four rounds ran a call each; the fifth, offered none, asked again
    assert "tools" in chats[3]["body"] and "tools" not in chats[4]["body"]
    searches = AuditEvent.objects.filter(action="knowledge.search", actor=agent)
    assert searches.count() == 1 + 4  # the question's own retrieval, then the four calls

    # Many calls in one round: the first ones up to the cap run, the rest do not.
    model.requests.clear()
    model.repeat_reply = {"tool_calls": [SEARCH] * 40}
    reply = _ask(agent, conversation, "And a gold card?")
    assert reply.error == gave_up_message(4)
    assert len(reply.tool_calls) == 4
    assert reply.cards[-1]["text"] == "36 more tool calls were not run: at most 4 in one answer."
    chats = _chats(model)
    assert len(chats) == 2 and "tools" not in chats[1]["body"]
    answered = [m for m in chats[1]["body"]["messages"] if m["role"] == "tool"]
    assert len(answered) == 40  # every call answered, as the protocol wants
    assert "Not run" in answered[-1]["content"]
    # A model that answers after the cap is an answer like any other.
    model.chat_replies = [{"tool_calls": [SEARCH] * 6}, {"content": "Ten euros."}]
    reply = _ask(agent, conversation, "And a gold card?")
    assert (reply.error, reply.content, len(reply.tool_calls)) == ("", "Ten euros.", 4)


def test_a_model_that_ignores_the_last_round_gives_a_clear_message(
    model: FakeOpenAI, agent: Any, settings: Any
) -> None:
    """The last round is offered no tools; a model that still answers with tool calls and no
    text has not answered (before: "The sources found do not answer this question")."""
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 1
    model.repeat_reply = {"tool_calls": [SEARCH]}
    conversation = conversation_create(owner=agent)
    reply = _ask(agent, conversation, "What does a replacement card cost?")
    assert reply.error == gave_up_message(1)
    assert len(reply.tool_calls) == 1
    assert "tools" not in _chats(model)[-1]["body"]
