"""``escalate_to_human``: hand the conversation to a supervisor (``handoff_create``), with
its customer and the newest draft pre-filled in it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError

from assistant.permissions import queue_name
from assistant.services.handoffs import handoff_create
from assistant.tools.base import Tool, ToolContext, ToolOutcome, ToolRefused, object_schema
from forms_app.permissions import submissions_owned_by
from portal.permissions import Action

if TYPE_CHECKING:
    from assistant.answering.types import HandoffCard


def escalate_to_human(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    # A draft made earlier in this same answer is not stored yet: pass it; otherwise the
    # service takes the newest draft of the conversation.
    current = next(
        (c["submission_id"] for c in reversed(context.cards) if c["type"] == "prefill"),
        None,
    )
    submission = submissions_owned_by(context.user).filter(pk=current).first() if current else None
    try:
        handoff = handoff_create(
            actor=context.user,
            conversation=context.conversation,
            reason=arguments["reason"],
            submission=submission,
        )
    except (ValidationError, PermissionDenied) as error:
        raise ToolRefused("; ".join(getattr(error, "messages", [str(error)]))) from None
    card: HandoffCard = {
        "type": "handoff",
        "handoff_id": handoff.pk,
        "status": handoff.status,
        "reason": handoff.reason,
        "region": queue_name(handoff),
    }
    context.cards.append(card)
    content = json.dumps(
        {"handoff_id": handoff.pk, "status": handoff.status, "note": "A supervisor will take it."}
    )
    return ToolOutcome(True, content, f"handed off to a supervisor (hand-off #{handoff.pk})")


TOOL = Tool(
    name="escalate_to_human",
    description=(
        "Hand this conversation to a supervisor, with the customer and any draft. Use "
        "it when the user asks for a person, or when the request needs a human "
        "decision (a complaint, a suspected fraud, something the sources do not cover)."
    ),
    parameters=object_schema(
        {"reason": {"type": "string", "minLength": 3, "maxLength": 2000}}, ["reason"]
    ),
    action=Action.ASK_ASSISTANT,
    run=escalate_to_human,
)
