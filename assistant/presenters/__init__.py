"""How the assistant's stored records show to one viewer: conversation labels, messages with
their citations and cards, hand-off rows, and the source behind a citation.

Nothing here handles a request: the views fetch what the user may see and hand it over;
these functions decide what each row shows, checking again what *this* viewer may open
(a supervisor reading a handed-off conversation sees the asker's answers, but only the
documents, customers and drafts the supervisor may open are linked).

- ``messages``: each message with its citations, cards, tool calls and the viewer's feedback.
- ``pages``: conversation labels, the conversation page, the hand-off queue's rows.
- ``sources``: the source behind a citation, as the viewer may read it now.
"""

from assistant.presenters.messages import (
    MODEL_LABELS,
    answer_payload,
    message_fragment_context,
    message_rows,
)
from assistant.presenters.pages import (
    conversation_context,
    conversation_label,
    handoff_queue_rows,
    labelled_conversations,
)
from assistant.presenters.sources import source_preview

__all__ = [
    "MODEL_LABELS",
    "answer_payload",
    "conversation_context",
    "conversation_label",
    "handoff_queue_rows",
    "labelled_conversations",
    "message_fragment_context",
    "message_rows",
    "source_preview",
]
