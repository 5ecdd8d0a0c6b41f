"""An answer that fails inside the portal (a bug in a tool, a parser, a source) still ends
with one stored answer, an error, and its audit event: the conversation is never left with
an unanswered question (``assistant/answering/pipeline.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.answering import answer, pipeline
from assistant.models import MessageRole
from assistant.services import conversation_create
from portal.models import AuditEvent
from tests.assistant.conftest import FEES_TEXT
from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401

pytestmark = pytest.mark.django_db


def _broken(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a bug in the portal")


@pytest.mark.parametrize("text", ["What is the card fee?", "/customer CUS-000001"])
def test_a_failure_inside_the_pipeline_stores_one_error_answer(
    monkeypatch: pytest.MonkeyPatch,
    role_users: dict[str, Any],  # noqa: F811
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
    without_llm: None,
    caplog: pytest.LogCaptureFixture,
    text: str,
) -> None:
    add_document(collections["products-fees"], "Card fees", FEES_TEXT)
    monkeypatch.setattr(pipeline, "gather_sources", _broken)
    monkeypatch.setattr(pipeline, "command_run", _broken)
    agent = role_users["agent"]
    conversation = conversation_create(owner=agent)
    message = answer(user=agent, conversation=conversation, text=text)
    assert message.error == message.content == pipeline.FAILED_MESSAGE
    stored = list(conversation.messages.order_by("id"))
    assert [m.role for m in stored] == [MessageRole.USER, MessageRole.ASSISTANT]
    assert stored[0].content == text
    event = AuditEvent.objects.get(action="assistant.answer")
    assert event.target_id == str(message.pk)
    assert "Answering failed" in caplog.text and "a bug in the portal" in caplog.text
