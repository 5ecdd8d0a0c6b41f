"""The language model client: OpenAI, Azure OpenAI or any server speaking the OpenAI
protocol (vLLM, Ollama ...), with timeouts, bounded retries and errors fit for a person.

``chat`` returns one ``ChatResult``; ``chat_stream`` yields ``StreamEvent``s: text deltas,
then exactly one final event (``done=True``) with the tool calls and token usage.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from django.conf import settings

from portal.errors import ApplicationError

logger = logging.getLogger(__name__)

TIMEOUT_MESSAGE = "The language model did not answer in time; your question is kept — try again."
CONNECTION_MESSAGE = (
    "The language model could not be reached; your question is kept — try again later."
)
STATUS_MESSAGE = (
    "The language model refused the request (HTTP {status}); your question is kept — "
    "try again later."
)
GENERIC_MESSAGE = "The language model failed; your question is kept — try again later."
INCOMPLETE_MESSAGE = "The language model's answer was cut off; your question is kept — try again."


class LLMError(ApplicationError):
    """The language model failed (after its retries); the message is fit for a person."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None  # set when the model's arguments were not a JSON object


@dataclass(frozen=True)
class ChatResult:
    content: str
    tool_calls: list[ToolCall]
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class StreamEvent:
    """A text delta (``done=False``) or the final event (``done=True``)."""

    delta: str = ""
    done: bool = False
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def llm_configured() -> bool:
    return bool(
        settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY or settings.AZURE_OPENAI_ENDPOINT
    )


def _client() -> Any:
    """One client per configuration and process: its connection pool is reused across
    answers (a new client costs ~25 ms, and a TLS handshake per answer with a real API)."""
    return _client_for(
        settings.AZURE_OPENAI_ENDPOINT,
        settings.AZURE_OPENAI_API_KEY,
        settings.AZURE_OPENAI_API_VERSION,
        settings.OPENAI_API_KEY,
        settings.OPENAI_BASE_URL,
        float(settings.LLM_TIMEOUT_SECONDS),
        int(settings.LLM_MAX_RETRIES),
    )


@lru_cache(maxsize=4)
def _client_for(
    azure_endpoint: str,
    azure_key: str,
    azure_version: str,
    api_key: str,
    base_url: str,
    timeout: float,
    max_retries: int,
) -> Any:
    import openai

    options: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
    if azure_endpoint:
        return openai.AzureOpenAI(
            azure_endpoint=azure_endpoint,
            api_key=azure_key,
            api_version=azure_version,
            **options,
        )
    return openai.OpenAI(api_key=api_key or "unset", base_url=base_url or None, **options)


# What a malformed answer raises while it is read (invalid JSON, fields of the wrong type or
# shape): a failure of the model like any other, never of the portal.
MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError)


@cache
def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(timeout, transport) errors of the HTTP library under the openai package (httpx in
    openai 1.x, httpx2 in later releases): they can escape while a stream is being read."""
    timeouts: list[type[Exception]] = []
    transports: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transports.append(module.HTTPError)
    return tuple(timeouts), tuple(transports)


def _as_llm_error(error: Exception) -> LLMError:
    import openai

    timeouts, transports = _transport_errors()
    # APITimeoutError is a subclass of APIConnectionError.
    if isinstance(error, (openai.APITimeoutError, *timeouts)):
        return LLMError(TIMEOUT_MESSAGE, {"kind": "timeout"})
    if isinstance(error, (openai.APIConnectionError, *transports)):
        return LLMError(CONNECTION_MESSAGE, {"kind": "connection"})
    if isinstance(error, openai.APIStatusError):
        return LLMError(
            STATUS_MESSAGE.format(status=error.status_code),
            {"kind": "status", "status": error.status_code},
        )
    return LLMError(GENERIC_MESSAGE, {"kind": "other", "detail": str(error)})


def _malformed(error: Exception) -> LLMError:
    logger.warning("The language model sent a malformed answer", exc_info=error)
    return LLMError(GENERIC_MESSAGE, {"kind": "malformed", "detail": str(error)[:500]})


def _parse_arguments(raw: str | None) -> tuple[dict[str, Any], str | None]:
    if not raw or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError as error:
        return {}, f"Invalid JSON arguments: {error}"
    if not isinstance(value, dict):
        return {}, "The arguments are not a JSON object."
    return value, None


def _tool_call(call_id: str, name: str, raw_arguments: str | None) -> ToolCall:
    arguments, error = _parse_arguments(raw_arguments)
    return ToolCall(id=call_id, name=name, arguments=arguments, error=error)


def _request(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None) -> dict:
    request: dict[str, Any] = {
        "model": settings.OPENAI_MODEL,
        "messages": list(messages),
        "max_tokens": settings.LLM_MAX_TOKENS,
    }
    if tools:
        request["tools"] = list(tools)
    return request


def chat(
    messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None
) -> ChatResult:
    """One completion; raises ``LLMError`` when the model fails."""
    import openai

    try:
        response = _client().chat.completions.create(**_request(messages, tools))
    except openai.OpenAIError as error:
        raise _as_llm_error(error) from error
    if not response.choices:
        raise LLMError(GENERIC_MESSAGE, {"kind": "empty"})
    try:
        message = response.choices[0].message
        calls = [
            _tool_call(call.id, call.function.name, call.function.arguments)
            for call in (message.tool_calls or [])
            if getattr(call, "function", None) is not None
        ]
        usage = response.usage
        return ChatResult(
            content=str(message.content or ""),
            tool_calls=calls,
            model=response.model or settings.OPENAI_MODEL,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )
    except MALFORMED as error:
        raise _malformed(error) from error


def chat_stream(
    messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None
) -> Iterator[StreamEvent]:
    """Text deltas as they come, then one final event; raises ``LLMError`` when the model
    fails (before or during the stream), sends what is not a chat completion, or the stream
    ends before the model said it had finished (a connection cut mid-answer)."""
    import openai

    failures: tuple[type[Exception], ...] = (openai.OpenAIError, *_transport_errors()[1])
    request = _request(messages, tools)
    request["stream"] = True
    request["stream_options"] = {"include_usage": True}
    model = settings.OPENAI_MODEL
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    partial: dict[int, dict[str, str]] = {}
    finished = False
    try:
        stream = _client().chat.completions.create(**request)
        for chunk in stream:
            model = chunk.model or model
            if chunk.usage:
                prompt_tokens = chunk.usage.prompt_tokens
                completion_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices or []:
                finished = finished or bool(choice.finish_reason)
                delta = choice.delta
                if delta is None:
                    continue
                for call in delta.tool_calls or []:
                    slot = partial.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function is not None:
                        if call.function.name:
                            slot["name"] += call.function.name
                        if call.function.arguments:
                            slot["arguments"] += call.function.arguments
                if delta.content:
                    yield StreamEvent(delta=str(delta.content))
    except failures as error:
        raise _as_llm_error(error) from error
    except MALFORMED as error:
        raise _malformed(error) from error
    if not finished:
        # Every chat completion ends with a finish reason ("stop", "tool_calls", "length"):
        # without one the answer (and any tool call) may be missing its end.
        raise LLMError(INCOMPLETE_MESSAGE, {"kind": "incomplete"})
    calls = [
        _tool_call(slot["id"] or f"call_{index}", slot["name"], slot["arguments"])
        for index, slot in sorted(partial.items())
    ]
    yield StreamEvent(
        done=True,
        tool_calls=calls,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
