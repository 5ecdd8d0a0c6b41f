"""The answer to a stored question, step by step: a command runs its tool; otherwise the
sources are gathered as the asking user and the language model (with tools) or the
extractive answerer writes the answer. Its citations are checked, it is rendered as safe
HTML, stored and audited.

The model is called outside any transaction, so no database connection sits idle in a
transaction for up to the model's timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction

from assistant.answering import llm
from assistant.answering.citations import check_citations
from assistant.answering.commands import command_run, is_command
from assistant.answering.extractive import Source, extractive_answer
from assistant.answering.lineage import answer_lineage
from assistant.answering.model_answer import answer_with_model
from assistant.answering.prompt import gather_sources, history, model_messages
from assistant.answering.rendering import render_answer
from assistant.answering.sources import ChunkSource, CustomerSource, SourceSet
from assistant.answering.types import (
    COMMAND_MODEL_NAME,
    EXTRACTIVE_MODEL_NAME,
    SENSITIVE_FIELDS,
    AnswerDraft,
    AnswerEvent,
    Citation,
    CustomerCard,
    SourceRecord,
)
from assistant.models import Conversation, Message, MessageRole
from assistant.tools import ToolContext
from knowledge.selectors import chunk_collection_ids
from portal.crypto import ERASED, DataKeyDestroyed
from portal.metrics import answer_observe
from portal.permissions import field_visibility
from portal.services import audit_event_record
from portal.types import AnyUser

logger = logging.getLogger(__name__)

FAILED_MESSAGE = "The assistant failed while answering; your question is kept. Try again later."


def answer_events(
    user: AnyUser, conversation: Conversation, message: Message
) -> Iterator[AnswerEvent]:
    """The events of the answer to ``message`` (a stored question); the last is ``done``
    with the stored answer. Closed early, the answer is still finished and stored."""
    steps = _steps(user, conversation, message)
    try:
        # Not "yield from": that would close the pipeline with us.
        for event in steps:  # noqa: UP028
            yield event
    except GeneratorExit:
        # The reader went away (a closed browser tab): finish the answer anyway, so it is
        # stored and audited like any other and waits in the conversation.
        for _ in steps:
            pass
        raise


def _steps(user: AnyUser, conversation: Conversation, message: Message) -> Iterator[AnswerEvent]:
    started = time.monotonic()
    question = message.content
    yield AnswerEvent("question", {"message_id": message.pk})
    context = ToolContext(
        user=user,
        conversation=conversation,
        question=message,
        sources=SourceSet(limit=settings.ASSISTANT_MAX_SOURCES_TOTAL),
    )
    draft = AnswerDraft(model_name=EXTRACTIVE_MODEL_NAME)
    try:
        if is_command(question):
            context.direct = True
            draft.model_name = COMMAND_MODEL_NAME
            draft.content = command_run(context, question)
        else:
            turns = history(conversation, message)
            gather_sources(context, question, turns)
            if llm.llm_configured():
                messages = model_messages(context, question, turns)
                yield from answer_with_model(context, draft, messages)
            else:
                _extractive(context, draft, question)
    except Exception:
        # A bug in a tool, a parser or a source: the question still gets its one stored
        # answer (an error) and its audit event, never a conversation left unanswered.
        logger.exception("Answering failed (conversation %s)", conversation.pk)
        draft.error = draft.content = FAILED_MESSAGE
        context.cards.clear()
    stored = _finish(context, draft, question, started)
    yield AnswerEvent("done", {"message": stored})


def _extractive(context: ToolContext, draft: AnswerDraft, question: str) -> None:
    """Without a model: the sources' sentences closest to the question; customers as cards."""
    chunks = [s for s in context.sources.items if isinstance(s, ChunkSource)]
    extracted = extractive_answer(
        question, [Source(number=s.number, text=s.text, title=s.title) for s in chunks]
    )
    draft.content = extracted.text_markdown
    for source in context.sources.items:
        if isinstance(source, CustomerSource):
            view = source.customer
            card: CustomerCard = {
                "type": "customer",
                "customer_id": view.id,
                "customer_number": view.customer_number,
                "name": view.full_name,
            }
            context.cards.append(card)


def _finish(context: ToolContext, draft: AnswerDraft, question: str, started: float) -> Message:
    by_number = context.sources.by_number()
    content, kept, removed = draft.content, list[int](), list[int]()
    if not draft.error:
        content, kept, removed = check_citations(content, set(by_number))
        if removed:
            logger.warning(
                "Removed citations to sources that were not given: %s (conversation %s)",
                removed,
                context.conversation.pk,
            )
    citations: list[Citation] = [by_number[n].citation() for n in kept]
    urls = {n: by_number[n].url() for n in kept}
    visibility = {name: field_visibility(context.user, name) for name in SENSITIVE_FIELDS}
    records: list[SourceRecord] = [
        {
            "type": "customer",
            "id": cid,
            "named_by_user": cid in context.customers_named,
            "visibility": dict(visibility),
        }
        for cid in context.sources.customer_ids()
    ]
    chunk_ids = context.sources.chunk_ids()
    collection_ids = sorted(set(chunk_collection_ids(context.user, chunk_ids).values()))
    total_ms = (time.monotonic() - started) * 1000
    lineage, source_texts = answer_lineage(
        sources=list(context.sources.items),
        model_requested=settings.OPENAI_MODEL if llm.llm_configured() else draft.model_name,
        model_reported=draft.model_name,
        kept=kept,
        removed=removed,
        tools=context.calls,
        searched=not context.direct,
    )
    return _assistant_message_store(
        context=context,
        question=question,
        fields={
            "content": content,
            "content_html": render_answer(content, urls),
            "citations": citations,
            "source_chunk_ids": chunk_ids,
            "source_collection_ids": collection_ids,
            "source_record_ids": records,
            "tool_calls": context.calls,
            "cards": context.cards,
            "model_name": draft.model_name[:200],
            "prompt_tokens": draft.prompt_tokens,
            "completion_tokens": draft.completion_tokens,
            "latency_ms": round(total_ms),
            "error": draft.error,
            "lineage": lineage,
            "source_texts": source_texts,
        },
        model_ms=draft.model_ms,
    )


@transaction.atomic
def _assistant_message_store(
    *, context: ToolContext, question: str, fields: dict[str, Any], model_ms: float
) -> Message:
    conversation = context.conversation
    message = Message(conversation=conversation, role=MessageRole.ASSISTANT, **fields)
    message.full_clean()
    try:
        with transaction.atomic():
            message.save()
    except DataKeyDestroyed:
        # The customer it is about was erased while it was written: kept as erased.
        conversation.refresh_from_db(fields=["customer"])
        message.conversation = conversation
        message.content, message.content_html = ERASED, f"<p>{ERASED}</p>"
        message.citations, message.tool_calls, message.cards, message.source_texts = [], [], [], []
        fields.update(citations=[], source_texts=[])
        message.save()
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    audit_event_record(
        action="assistant.answer",
        actor=context.user,
        target=message,
        details={
            "conversation_id": conversation.pk,
            "question": question,
            "chunk_ids": fields["source_chunk_ids"],
            "record_ids": fields["source_record_ids"],
            "tools": [
                {"name": c["name"], "arguments": c["arguments"], "ok": c["ok"]}
                for c in context.calls
            ],
            "citations": fields["citations"],
            "model": fields["model_name"],
            "prompt_version": fields["lineage"]["prompt_version"],
            # Of the documents' passages only: the hash of a customer record's text would
            # confirm a guess of it, in a trail that erasure cannot touch (the lineage on
            # the message keeps it until the customer is erased).
            "source_hashes": [
                entry["sha256"]
                for entry in fields["lineage"]["sources"]
                if entry["kind"] == "chunk"
            ],
            "error": fields["error"],
            # Time in the model vs. in the portal around it (retrieval, tools, storage).
            "model_ms": round(model_ms, 1),
            "portal_ms": round(max(fields["latency_ms"] - model_ms, 0.0), 1),
        },
    )
    # /metrics: answer latency and model errors (portal/metrics.py), once committed.
    transaction.on_commit(
        lambda: answer_observe(latency_ms=message.latency_ms, error=message.error)
    )
    return message
