"""How the assistant's stored records show to one viewer: conversation labels, messages with
their citations and cards, hand-off rows, and the source behind a citation.

Nothing here handles a request: the views fetch what the user may see and hand it over;
these functions decide what each row shows, checking again what *this* viewer may open.
A supervisor reading a handed-off conversation sees it as *they* may: an answer drawing on
a source they may not read is hidden, citations they may not open are not listed, and
customers show masked for them (``shown``, which the API's serializers use too).

- ``shown``: what one viewer is shown of each message (the one place that decides it).
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
from assistant.presenters.shown import REDACTED_NOTE, ShownMessage, messages_shown
from assistant.presenters.sources import source_preview

__all__ = [
    "MODEL_LABELS",
    "REDACTED_NOTE",
    "ShownMessage",
    "answer_payload",
    "conversation_context",
    "conversation_label",
    "handoff_queue_rows",
    "labelled_conversations",
    "message_fragment_context",
    "message_rows",
    "messages_shown",
    "source_preview",
]
