"""The tools, in the order they are offered to the model, and how a call is run.

Adding a tool: write ``assistant/tools/<tool_name>.py`` defining ``TOOL = Tool(...)`` and
its function (see ``search_knowledge.py``), then add ``<tool_name>.TOOL`` to ``TOOLS``
below (and the module to the import line).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from assistant.tools import escalate_to_human, lookup_customer, prefill_form, search_knowledge
from assistant.tools.base import Tool, ToolContext, ToolOutcome, ToolRefused
from portal.audit import typed
from portal.permissions import can
from portal.services import audit_event_record
from portal.types import AnyUser

if TYPE_CHECKING:
    from assistant.answering.types import NoticeCard


def _by_name(*tools: Tool) -> dict[str, Tool]:
    return {tool.name: tool for tool in tools}


TOOLS: dict[str, Tool] = _by_name(
    search_knowledge.TOOL,
    lookup_customer.TOOL,
    prefill_form.TOOL,
    escalate_to_human.TOOL,
)


def tool_specs(user: AnyUser) -> list[dict[str, Any]]:
    """The tools ``user``'s roles allow, in the OpenAI ``tools`` format."""
    return [tool.spec() for tool in TOOLS.values() if can(user, tool.action)]


def _validation_problem(tool: Tool, arguments: dict[str, Any]) -> str | None:
    errors = sorted(
        Draft202012Validator(tool.parameters).iter_errors(arguments), key=lambda e: list(e.path)
    )
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.path) or "arguments"
    return f"Invalid arguments ({where}): {first.message}"


def tool_run(
    context: ToolContext,
    name: str,
    arguments: dict[str, Any],
    *,
    call_id: str = "",
    parse_error: str | None = None,
) -> ToolOutcome:
    """Run one tool call as the context's user; refusals are recorded, audited and returned."""
    tool = TOOLS.get(name)
    # Why, as a code the audit trail keeps (the reason's words are in the message).
    problem, refusal = parse_error, "unreadable_call"
    if problem is None and tool is None:
        problem, refusal = f"There is no tool named '{name}'.", "unknown_tool"
    elif problem is None and tool is not None and not can(context.user, tool.action):
        problem, refusal = f"This user may not use {name}.", "not_allowed"
    elif problem is None and tool is not None:
        problem, refusal = _validation_problem(tool, arguments), "invalid_arguments"
    outcome: ToolOutcome
    if problem is None and tool is not None:
        try:
            outcome = tool.run(context, arguments)
        except ToolRefused as error:
            problem, refusal = str(error), "refused_by_tool"
    if problem is not None:
        outcome = ToolOutcome(False, json.dumps({"error": problem}), f"{name} refused: {problem}")
        audit_event_record(
            action="assistant.tool_refused",
            actor=context.user,
            target=context.conversation,
            # The reason may quote the arguments (a schema error shows the value, a refusal
            # the customer named): a fingerprint, like the arguments (portal.audit).
            details={
                "tool": name if tool is not None else typed(name),  # a name the model made up
                "arguments": arguments,
                "refusal": refusal,
                "reason": typed(problem),
            },
        )
        notice: NoticeCard = {"type": "notice", "level": "warning", "text": outcome.summary}
        context.cards.append(notice)
    context.calls.append(
        {
            "id": call_id,
            "name": name,
            "arguments": arguments,
            "ok": outcome.ok,
            "summary": outcome.summary,
        }
    )
    return outcome
