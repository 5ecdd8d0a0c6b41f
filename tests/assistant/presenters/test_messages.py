"""Stored answers whose cited document was archived or deleted since: the sources say so,
nothing fails."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from assistant.answering import answer
from assistant.services import conversation_create
from knowledge.services import document_archive, document_delete
from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401

pytestmark = pytest.mark.django_db

QUESTION = "What is the annual card fee?"
FRAGMENT = {"HTTP_X_FRAGMENT": "1"}


def _asked(user: Any) -> tuple[Any, Any]:
    conversation = conversation_create(owner=user)
    reply = answer(user=user, conversation=conversation, text=QUESTION)
    assert reply.citations and reply.citations[0]["title"] == "Card fees"
    return conversation, reply


def test_a_citation_of_a_deleted_document_says_so(
    client: Client, agent: Any, no_llm: None, documents: dict[str, Any]
) -> None:
    conversation, reply = _asked(agent)
    document_delete(actor=None, document=documents["fees"])
    client.force_login(agent)
    page = client.get(reverse("assistant:conversation", args=[conversation.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "(document deleted)" in html and "Card fees" in html
    assert (
        reverse("knowledge:document_detail", args=[documents["fees"].pk])
        not in html.split("data-sources", 1)[1]
    )
    fragment = client.get(reverse("assistant:message_fragment", args=[reply.pk]))
    assert fragment.status_code == 200 and "(document deleted)" in fragment.content.decode()
    preview = reverse("assistant:citation_preview", args=[reply.pk, 1])
    assert client.get(preview, **FRAGMENT).status_code == 404
    assert client.get(preview).status_code == 404
    api = APIClient()
    api.force_authenticate(agent)
    stored = api.get(f"/api/v1/conversations/{conversation.pk}/")
    assert stored.status_code == 200
    assert stored.json()["messages"][-1]["citations"][0]["document_id"] == documents["fees"].pk


def test_a_citation_of_an_archived_document(
    client: Client,
    role_users: dict[str, Any],  # noqa: F811
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    agent, manager = role_users["agent"], role_users["content_manager"]
    agent_conversation, agent_reply = _asked(agent)
    manager_conversation, manager_reply = _asked(manager)
    document_archive(actor=manager, document=documents["fees"])

    client.force_login(agent)  # reads the collection: the archived document is closed to it
    html = client.get(reverse("assistant:conversation", args=[agent_conversation.pk]))
    assert "(document archived)" in html.content.decode()
    preview = reverse("assistant:citation_preview", args=[agent_reply.pk, 1])
    assert client.get(preview, **FRAGMENT).status_code == 404

    client.force_login(manager)  # manages it: still opens it, told it is archived
    html = client.get(reverse("assistant:conversation", args=[manager_conversation.pk]))
    assert "(document archived)" not in html.content.decode()
    preview = reverse("assistant:citation_preview", args=[manager_reply.pk, 1])
    fragment = client.get(preview, **FRAGMENT).content.decode()
    assert "data-preview-archived" in fragment and "no longer answers questions" in fragment
    assert reverse("knowledge:document_detail", args=[documents["fees"].pk]) in fragment

    # And new answers no longer draw on it.
    _, later = _asked_anything(agent)
    assert all(c.get("document_id") != documents["fees"].pk for c in later.citations or [])


def _asked_anything(user: Any) -> tuple[Any, Any]:
    conversation = conversation_create(owner=user)
    return conversation, answer(user=user, conversation=conversation, text=QUESTION)
