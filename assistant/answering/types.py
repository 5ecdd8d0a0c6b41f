"""The shapes an answer is made of, shared by the code that writes them and reads them.

Citations, cards, tool calls and source records are stored as JSON in a ``Message``
(``citations``, ``cards``, ``tool_calls``, ``source_record_ids``) and served as they are
by the API. Written by the pipeline (``sources.py``, ``pipeline.py``, ``commands.py``) and
the tools (``assistant/tools/``); read by ``assistant.presenters`` (the pages),
``assistant.selectors`` and the API's serializers. Stored rows are read defensively
(``.get``): a reader never trusts a JSON column to hold every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from portal.permissions import SENSITIVE_CUSTOMER_FIELDS

# What ``Message.model_name`` says when no language model wrote the answer.
EXTRACTIVE_MODEL_NAME = "extractive"
COMMAND_MODEL_NAME = "command"

# The customer fields some roles see masked or not at all ("customer" is the record itself):
# a source record notes how the asker saw each (``SourceRecord.visibility``).
SENSITIVE_FIELDS = tuple(name for name in SENSITIVE_CUSTOMER_FIELDS if name != "customer")


# Citations: one per [n] marker kept in an answer -----------------------------------------


class ChunkCitation(TypedDict):
    """A passage of a document, as it was when the answer was written."""

    n: int
    type: Literal["chunk"]
    chunk_id: int
    document_id: int
    version: int
    page: int | None
    title: str


class CustomerCitation(TypedDict):
    """A customer record (masked as the asker saw it)."""

    n: int
    type: Literal["customer"]
    customer_id: int
    title: str


Citation = ChunkCitation | CustomerCitation


# Cards: what comes with an answer besides its text ---------------------------------------


class PrefillCard(TypedDict):
    """A draft submission the ``prefill_form`` tool made (field keys, not labels)."""

    type: Literal["prefill"]
    submission_id: int
    form: str
    form_slug: str
    customer: str
    customer_id: int
    url: str
    from_record: list[str]
    from_conversation: list[str]
    masked: list[str]
    dropped: list[str]


class HandoffCard(TypedDict):
    """A hand-off to a supervisor (``escalate_to_human``); its status as when it was made."""

    type: Literal["handoff"]
    handoff_id: int
    status: str
    reason: str
    region: str


class CustomerCard(TypedDict):
    """A customer offered by the extractive answerer or the ``/customer`` command."""

    type: Literal["customer"]
    customer_id: int
    customer_number: str
    name: str


class NoticeCard(TypedDict):
    """Something the person should know, e.g. a refused tool call."""

    type: Literal["notice"]
    level: Literal["warning"]
    text: str


Card = PrefillCard | HandoffCard | CustomerCard | NoticeCard


# What the answer used ---------------------------------------------------------------------


class ToolCallRecord(TypedDict):
    """One tool call (the model's or a command's) and what came of it."""

    id: str
    name: str
    arguments: dict[str, Any]
    ok: bool
    summary: str


class SourceRecord(TypedDict):
    """A record put in front of the model (``Message.source_record_ids``)."""

    type: Literal["customer"]
    id: int
    named_by_user: bool  # the asker named the customer: a pre-fill may be for them
    # How the asker saw its sensitive fields ("full", "masked" or "hidden"), by field: a
    # reader of the conversation who sees any of them less fully does not see the answer.
    visibility: dict[str, str]


# The pipeline's steps -----------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerEvent:
    """One step of an answer: ``question``, ``delta`` (text), ``tool``, then ``done``."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnswerDraft:
    """The answer while it is made: its text and what the model cost."""

    model_name: str
    content: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model_ms: float = 0.0
    error: str = ""
