"""The language model's answer: streamed round by round, with the tools it calls run (as
the asking user) between rounds. The last round is offered no tools, so it must answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from assistant.answering import llm
from assistant.answering.extractive import NO_ANSWER
from assistant.answering.types import AnswerDraft, AnswerEvent
from assistant.tools import ToolContext, tool_run, tool_specs


def _add_tokens(total: int | None, more: int | None) -> int | None:
    if more is None:
        return total
    return (total or 0) + more


def answer_with_model(
    context: ToolContext, draft: AnswerDraft, messages: list[dict[str, Any]]
) -> Iterator[AnswerEvent]:
    """Stream the model's answer into ``draft``; run the tools it calls between rounds.
    A failure of the model ends the answer with ``draft.error`` set."""
    specs = tool_specs(context.user)
    draft.model_name = settings.OPENAI_MODEL
    rounds = settings.ASSISTANT_MAX_TOOL_ROUNDS
    for round_number in range(rounds + 1):
        offered = specs if round_number < rounds else None
        text = ""
        final: llm.StreamEvent | None = None
        started = time.monotonic()
        try:
            for event in llm.chat_stream(messages, tools=offered):
                if event.done:
                    final = event
                else:
                    text += event.delta
                    yield AnswerEvent("delta", {"text": event.delta})
        except llm.LLMError as failure:
            draft.error = failure.message
            draft.content = failure.message
            return
        finally:
            draft.model_ms += (time.monotonic() - started) * 1000
        assert final is not None  # chat_stream always ends with the final event
        draft.model_name = final.model or draft.model_name
        draft.prompt_tokens = _add_tokens(draft.prompt_tokens, final.prompt_tokens)
        draft.completion_tokens = _add_tokens(draft.completion_tokens, final.completion_tokens)
        if not final.tool_calls or offered is None:
            draft.content = text.strip() or NO_ANSWER
            return
        messages.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in final.tool_calls
                ],
            }
        )
        for call in final.tool_calls:
            outcome = tool_run(
                context, call.name, call.arguments, call_id=call.id, parse_error=call.error
            )
            yield AnswerEvent(
                "tool", {"name": call.name, "ok": outcome.ok, "summary": outcome.summary}
            )
            messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.content})
