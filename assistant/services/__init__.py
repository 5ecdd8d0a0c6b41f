"""Writes of the assistant app (see each module); the public names are re-exported here."""

from assistant.services.answering import (
    AnswerEvent,
    RateLimited,
    answer,
    answer_stream,
)
from assistant.services.conversations import conversation_create
from assistant.services.feedback import feedback_record
from assistant.services.handoffs import handoff_assign, handoff_create, handoff_resolve

__all__ = [
    "AnswerEvent",
    "RateLimited",
    "answer",
    "answer_stream",
    "conversation_create",
    "feedback_record",
    "handoff_assign",
    "handoff_create",
    "handoff_resolve",
]
