"""The answer pipeline: a question in a conversation becomes a cited, sanitized, stored and
audited answer (see docs/assistant.md, "The answer pipeline").

- ``questions``: the entry point. ``answer_stream`` checks and stores the question, then
  returns the answer's events; ``answer`` drains them and returns the stored answer.
- ``pipeline``: the steps of one answer, from the stored question to the stored answer.
- ``prompt``: the earlier turns, the sources gathered as the user, the model's messages.
- ``sources``: the numbered sources (passages, customer records) of one answer.
- ``model_answer`` and ``llm``: the language model's rounds (with tools) and its client.
- ``extractive``: the built-in answerer when no model is configured.
- ``commands``: typed commands (``/search`` ...), which run the tools directly.
- ``citations`` and ``rendering``: ``[n]`` markers checked; Markdown to safe HTML.
- ``sse``: the events as server-sent events, for the chat page and the API.
- ``types``: the shapes of citations, cards, tool calls and events.

The tools the model may call are ``assistant.tools``.
"""

from assistant.answering.questions import RateLimited, answer, answer_stream
from assistant.answering.types import AnswerEvent

__all__ = ["AnswerEvent", "RateLimited", "answer", "answer_stream"]
