"""The LLM client against the real local fake OpenAI server."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.answering.llm import LLMError, chat, chat_stream, llm_configured
from tests.support.openai_server import DEFAULT_CHAT_ANSWER, FakeOpenAI, fake_openai_server

MESSAGES = [
    {"role": "system", "content": "Answer from the sources."},
    {"role": "user", "content": "How long does a card dispute take?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the knowledge base.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def test_llm_configured(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.AZURE_OPENAI_ENDPOINT = ""
    assert not llm_configured()
    settings.OPENAI_BASE_URL = "http://localhost:11434/v1"
    assert llm_configured()
    settings.OPENAI_BASE_URL = ""
    settings.AZURE_OPENAI_ENDPOINT = "https://example.openai.azure.com"
    assert llm_configured()


def test_chat_plain_records_model_and_messages(server: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_TOKENS = 123
    server.chat_replies.append({"content": "Ten working days [1]."})
    result = chat(MESSAGES)
    assert result.content == "Ten working days [1]."
    assert result.tool_calls == []
    assert result.model == "test-model"
    assert result.prompt_tokens and result.completion_tokens == 4
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "test-model"
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["max_tokens"] == 123
    assert "tools" not in request["body"]
    assert request["headers"]["authorization"] == "Bearer sk-test"


def test_chat_default_reply_when_script_is_empty(server: FakeOpenAI) -> None:
    assert chat(MESSAGES).content == DEFAULT_CHAT_ANSWER


def test_chat_tool_calls_parsed(server: FakeOpenAI) -> None:
    server.chat_replies.append(
        {
            "tool_calls": [
                {"name": "search", "arguments": {"query": "card dispute"}},
                {"name": "search", "arguments": "{not json"},
                {"name": "search", "arguments": "[1, 2]"},
            ]
        }
    )
    result = chat(MESSAGES, tools=TOOLS)
    assert result.content == ""
    good, broken, not_object = result.tool_calls
    assert (good.id, good.name, good.arguments, good.error) == (
        "call_1",
        "search",
        {"query": "card dispute"},
        None,
    )
    assert broken.arguments == {} and broken.error and "Invalid JSON" in broken.error
    assert not_object.arguments == {} and not_object.error
    assert server.requests[0]["body"]["tools"] == TOOLS


def test_chat_stream_text_then_final_event(server: FakeOpenAI) -> None:
    server.chat_replies.append({"content": "Ten working days, see [1]."})
    events = list(chat_stream(MESSAGES))
    *deltas, final = events
    assert len(deltas) > 1 and not any(e.done for e in deltas)
    assert "".join(e.delta for e in deltas) == "Ten working days, see [1]."
    assert final.done and final.tool_calls == [] and final.model == "test-model"
    assert final.completion_tokens == 5
    body = server.requests[0]["body"]
    assert body["stream"] is True and body["messages"] == MESSAGES


def test_chat_stream_tool_calls_are_assembled(server: FakeOpenAI) -> None:
    server.chat_replies.append(
        {
            "tool_calls": [
                {"name": "search", "arguments": {"query": "address change form"}},
                {"name": "escalate", "arguments": "{broken"},
            ]
        }
    )
    events = list(chat_stream(MESSAGES, tools=TOOLS))
    assert [e.done for e in events] == [True]
    search, escalate = events[0].tool_calls
    assert search.name == "search" and search.arguments == {"query": "address change form"}
    assert search.id == "call_1" and search.error is None
    assert escalate.name == "escalate" and escalate.arguments == {} and escalate.error


def test_timeout_becomes_llm_error(server: FakeOpenAI, settings: Any) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.5
    server.delay_seconds = 2
    with pytest.raises(LLMError, match="did not answer in time") as caught:
        chat(MESSAGES)
    assert caught.value.extra["kind"] == "timeout"
    with pytest.raises(LLMError, match="did not answer in time"):
        list(chat_stream(MESSAGES))


def test_server_error_becomes_llm_error(server: FakeOpenAI) -> None:
    server.fail_next = 2
    with pytest.raises(LLMError, match="HTTP 500") as caught:
        chat(MESSAGES)
    assert caught.value.extra == {"kind": "status", "status": 500}
    with pytest.raises(LLMError, match="HTTP 500"):
        list(chat_stream(MESSAGES))


def test_retries_then_answers(server: FakeOpenAI, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 1
    server.fail_next = 1
    assert chat(MESSAGES).content == DEFAULT_CHAT_ANSWER
    assert len(server.requests) == 2


def test_unreachable_server_becomes_llm_error(settings: Any) -> None:
    with fake_openai_server() as fake:
        url = fake.base_url
    settings.OPENAI_BASE_URL = url  # the server is gone now
    settings.AZURE_OPENAI_ENDPOINT = ""
    settings.LLM_MAX_RETRIES = 0
    with pytest.raises(LLMError, match="could not be reached"):
        chat(MESSAGES)
