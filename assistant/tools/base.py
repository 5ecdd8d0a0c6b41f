"""What every tool is made of: the context it runs in, its outcome, its refusal, and the
``Tool`` itself (name, description and JSON Schema sent to the model, the action it needs,
and the function that runs it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.models import Conversation, Message, MessageRole
from portal.permissions import Action
from portal.types import AnyUser

if TYPE_CHECKING:
    from assistant.answering.sources import SourceSet
    from assistant.answering.types import Card, ToolCallRecord

# A positive integer id, in a tool's JSON Schema.
ID_SCHEMA = {"type": "integer", "minimum": 1}


@dataclass
class ToolContext:
    """What a tool may use: the asking user, their conversation and this answer's state."""

    user: AnyUser
    conversation: Conversation
    question: Message
    sources: SourceSet
    # Customers the user named (conversation focus, their own words, lookups of their
    # words): the only customers a model-initiated pre-fill may be for.
    customers_named: set[int] = field(default_factory=set)
    direct: bool = False  # a command the user typed: the user named everything themselves
    cards: list[Card] = field(default_factory=list)
    calls: list[ToolCallRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str  # what the model reads
    summary: str  # what the person reads


class ToolRefused(Exception):
    """The call is not allowed or cannot be done; the message goes to the model and person."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str  # read by the model: it is an instruction
    parameters: dict[str, Any]  # JSON Schema of the arguments, checked before ``run``
    action: Action  # the user's roles must allow it, or the tool is neither offered nor run
    run: Callable[[ToolContext, dict[str, Any]], ToolOutcome]

    def spec(self) -> dict[str, Any]:
        """The tool in the OpenAI ``tools`` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A JSON Schema object with exactly these properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _normalised(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _user_messages(context: ToolContext) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation=context.conversation,
            role=MessageRole.USER,
            created_at__lte=context.question.created_at,
        ).order_by("-created_at", "-id")
    )


def said_by_user(context: ToolContext, value: Any) -> Message | None:
    """The latest of the user's own messages that contains ``value`` (ignoring punctuation)."""
    wanted = _normalised(str(value))
    if not wanted:
        return None
    for message in _user_messages(context):
        if wanted in _normalised(message.content):
            return message
    return None
