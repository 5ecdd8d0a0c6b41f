"""Writes of the assistant app (see each module); the public names are re-exported here.

Answering a question (which stores it and the answer) is ``assistant.answering``.
"""

from assistant.services.conversations import conversation_create
from assistant.services.feedback import feedback_record
from assistant.services.handoffs import handoff_assign, handoff_create, handoff_resolve

__all__ = [
    "conversation_create",
    "feedback_record",
    "handoff_assign",
    "handoff_create",
    "handoff_resolve",
]
