"""Portal pages of the assistant: chat (with streaming), citation previews, hand-off queue."""

from assistant.views.chat import (
    ask,
    chat_index,
    citation_preview,
    conversation_create_view,
    conversation_detail,
    escalate,
    feedback,
    message_fragment,
)
from assistant.views.explain import answer_explain_view
from assistant.views.handoffs import handoff_assign_view, handoff_queue_view, handoff_resolve_view

__all__ = [
    "answer_explain_view",
    "ask",
    "chat_index",
    "citation_preview",
    "conversation_create_view",
    "conversation_detail",
    "escalate",
    "feedback",
    "handoff_assign_view",
    "handoff_queue_view",
    "handoff_resolve_view",
    "message_fragment",
]
