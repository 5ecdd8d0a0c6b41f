"""Explain this answer (assistant/explanation.py): compliance sees what the model was given
and returned, within compliance's own rights, and whether today's search finds it again."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from assistant.answering import answer
from assistant.explanation import answer_explain
from assistant.services import conversation_create
from knowledge.models import Collection, Document
from portal.models import AuditEvent
from tests.assistant.conftest import PRODUCTS_CANARY
from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(server: FakeOpenAI, documents: dict[str, Any], agent: Any) -> Any:
    server.chat_replies.append({"content": f"The fee is 5 euros [1] ({PRODUCTS_CANARY})."})
    conversation = conversation_create(owner=agent)
    return answer(user=agent, conversation=conversation, text="What is the annual card fee?")


def test_compliance_sees_the_question_sources_answer_and_todays_search(
    answered: Any,
    role_users: dict[str, Any],  # noqa: F811
    client: Any,
) -> None:
    compliance = role_users["compliance"]
    explanation = answer_explain(compliance, answered.pk)
    assert explanation.question == "What is the annual card fee?"
    assert explanation.asker == "agent" and explanation.answer_shown
    assert explanation.prompt_current
    first = explanation.sources[0]
    assert first.kind == "chunk" and first.cited and first.intact
    assert first.text is not None and "5 euros" in first.text
    assert first.today == "unchanged"
    assert 1 in explanation.found_again
    assert AuditEvent.objects.filter(action="assistant.answer_explained").count() == 1
    client.force_login(compliance)
    page = client.get(f"/assistant/answers/{answered.pk}/explain/")
    assert page.status_code == 200
    assert b"data-explain-answer" in page.content and PRODUCTS_CANARY.encode() in page.content
    assert b"found again today" in page.content


def test_a_replaced_document_and_rights_lost_since_are_shown_as_such(
    answered: Any,
    role_users: dict[str, Any],  # noqa: F811
    documents: dict[str, Any],
) -> None:
    fees = documents["fees"]
    Document.objects.filter(pk=fees.pk).update(live_version=2)  # a newer version answers now
    explanation = answer_explain(role_users["compliance"], answered.pk)
    assert explanation.sources[0].today == "the document now answers with version 2"
    assert explanation.sources[0].text is not None  # the text as the model read it
    # The collection is closed to compliance since: its text and the answer are withheld.
    Collection.objects.filter(pk=fees.collection_id).update(read_roles=["agent"])
    explanation = answer_explain(role_users["compliance"], answered.pk)
    assert explanation.sources[0].text is None
    assert "not one you may read" in explanation.sources[0].withheld
    assert not explanation.answer_shown


def test_only_who_supervises_answers_explains_them(
    answered: Any,
    role_users: dict[str, Any],  # noqa: F811
    client: Any,
) -> None:
    for role in ("agent", "supervisor", "content_manager"):
        with pytest.raises(PermissionDenied):
            answer_explain(role_users[role], answered.pk)
        client.force_login(role_users[role])
        assert client.get(f"/assistant/answers/{answered.pk}/explain/").status_code == 403
    client.force_login(role_users["compliance"])
    question = answered.conversation.messages.order_by("pk").first()
    assert client.get(f"/assistant/answers/{question.pk}/explain/").status_code == 404
    assert client.get("/assistant/answers/999999/explain/").status_code == 404


def test_the_audit_trail_links_answers_to_their_explanation(
    answered: Any,
    role_users: dict[str, Any],  # noqa: F811
    client: Any,
) -> None:
    link = f'href="/assistant/answers/{answered.pk}/explain/"'.encode()
    client.force_login(role_users["compliance"])
    assert link in client.get("/audit/?action=assistant.answer").content
    client.force_login(role_users["admin"])  # reads the trail, does not supervise answers
    page = client.get("/audit/?action=assistant.answer")
    assert page.status_code == 200 and link not in page.content


def test_an_answer_from_before_lineage_is_shown_only_within_the_viewers_rights(
    answered: Any,
    role_users: dict[str, Any],  # noqa: F811
    documents: dict[str, Any],
) -> None:
    from assistant.models import Message

    Message.objects.filter(pk=answered.pk).update(lineage={}, source_texts=[])
    compliance = role_users["compliance"]
    assert answer_explain(compliance, answered.pk).answer_shown  # may read the fees document
    Collection.objects.filter(pk=documents["fees"].collection_id).update(read_roles=["agent"])
    explanation = answer_explain(compliance, answered.pk)
    assert explanation.sources == [] and not explanation.answer_shown
