"""The language model's answer: streamed round by round, with the tools it calls run (as
the asking user) between rounds. At most ``ASSISTANT_MAX_TOOL_ROUNDS`` rounds may call tools
and at most ``ASSISTANT_MAX_TOOL_CALLS`` calls are run in one answer; the round after either
limit is offered no tools, so it must answer. A model that still asks for tools instead has
not answered: the answer ends with a message saying so."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from assistant.answering import llm
from assistant.answering.extractive import NO_ANSWER
from assistant.answering.types import AnswerDraft, AnswerEvent, NoticeCard
from assistant.tools import ToolContext, tool_run, tool_specs


def _add_tokens(total: int | None, more: int | None) -> int | None:
    if more is None:
        return total
    return (total or 0) + more


def gave_up_message(calls: int) -> str:
    """The answer when the model asked for tools again instead of answering."""
    return (
        f"The language model gave no answer after {calls} tool "
        f"{'call' if calls == 1 else 'calls'}; your question is kept — try again, or ask a "
        "narrower question."
    )


def answer_with_model(
    context: ToolContext, draft: AnswerDraft, messages: list[dict[str, Any]]
) -> Iterator[AnswerEvent]:
    """Stream the model's answer into ``draft``; run the tools it calls between rounds.
    A failure of the model ends the answer with ``draft.error`` set."""
    specs = tool_specs(context.user)
    draft.model_name = settings.OPENAI_MODEL
    rounds = settings.ASSISTANT_MAX_TOOL_ROUNDS
    budget = settings.ASSISTANT_MAX_TOOL_CALLS
    calls_run = 0
    for round_number in range(rounds + 1):
        offered = specs if round_number < rounds and calls_run < budget else None
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
        if not final.tool_calls:
            draft.content = text.strip() or NO_ANSWER
            return
        if offered is None:  # tool calls where none were offered: no more are run
            draft.content = text.strip()
            if not draft.content:
                draft.error = draft.content = gave_up_message(calls_run)
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
        over_budget = 0
        for call in final.tool_calls:
            if calls_run >= budget:
                # Not run, not audited one by one (a model may ask for thousands); the model
                # is told, as the protocol wants an answer to every call.
                over_budget += 1
                refusal = f"Not run: at most {budget} tool calls in one answer. Answer now."
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": json.dumps({"error": refusal}),
                    }
                )
                continue
            calls_run += 1
            outcome = tool_run(
                context, call.name, call.arguments, call_id=call.id, parse_error=call.error
            )
            yield AnswerEvent(
                "tool", {"name": call.name, "ok": outcome.ok, "summary": outcome.summary}
            )
            messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.content})
        if over_budget:
            summary = (
                f"{over_budget} more tool {'call was' if over_budget == 1 else 'calls were'} "
                f"not run: at most {budget} in one answer."
            )
            notice: NoticeCard = {"type": "notice", "level": "warning", "text": summary}
            context.cards.append(notice)
