"""Conversations encrypted at rest: no plaintext in the tables, the text as written on the
page, in the API and in the admin, and the key rotation covering every column."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

from assistant.answering import answer
from assistant.models import Conversation, Feedback, Handoff, Message
from assistant.services import conversation_create, feedback_record, handoff_create
from tests.knowledge.conftest import collections, role_users  # noqa: F401

pytestmark = pytest.mark.django_db

COLUMNS = {
    "assistant_conversation": ["title"],
    "assistant_message": ["content", "content_html", "citations", "tool_calls", "cards"],
    "assistant_feedback": ["comment"],
    "assistant_handoff": ["reason", "notes"],
}


def _raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}::text FROM {table} ORDER BY id")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def talk(
    role_users: dict[str, Any],  # noqa: F811
    bank: dict[str, Any],
    without_llm: None,
) -> dict[str, Any]:
    """An agent's conversation naming a customer: the title, a /customer command (tool call,
    customer cards, an answer listing the customer), a hand-off and a feedback comment."""
    agent = role_users["agent"]
    customer = bank["north"][0]
    name = customer.full_name
    conversation = conversation_create(owner=agent, title=f"About {name}")
    message = answer(user=agent, conversation=conversation, text=f"/customer {name}")
    assert name in str(message.tool_calls) and name in str(message.cards)  # worth checking
    handoff = handoff_create(
        actor=agent, conversation=conversation, reason=f"{name} wants a supervisor"
    )
    feedback_record(user=agent, message=message, helpful=False, comment=f"Wrong {name}")
    return {
        "agent": agent,
        "name": name,
        "conversation": conversation,
        "message": message,
        "handoff": handoff,
    }


def test_the_tables_hold_no_plaintext(talk: dict[str, Any]) -> None:
    name = talk["name"]
    for table, columns in COLUMNS.items():
        for column in columns:
            values = _raw(table, column)
            assert values, (table, column)
            assert not any(name in value for value in values), (table, column)
            assert all(value.startswith("gAAAA") for value in values if value), (table, column)
    # The question, the answer and both HTML columns really are stored (non-empty).
    assert len([v for v in _raw("assistant_message", "content_html") if v]) == 1
    # The model reads them back as written.
    message = Message.objects.get(pk=talk["message"].pk)
    assert name in message.content and name in message.content_html
    assert any(card.get("name") == name for card in message.cards)
    assert Conversation.objects.get(pk=talk["conversation"].pk).title == f"About {name}"
    assert Handoff.objects.get(pk=talk["handoff"].pk).reason == f"{name} wants a supervisor"
    assert Feedback.objects.get().comment == f"Wrong {name}"


def test_encrypted_columns_refuse_sql_lookups(talk: dict[str, Any]) -> None:
    """A lookup would silently match nothing (the value is encrypted anew to compare)."""
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError, match="encrypted at rest"):
        Message.objects.filter(content=f"/customer {talk['name']}").exists()
    with pytest.raises(FieldError, match="encrypted at rest"):
        Conversation.objects.filter(title__icontains="About").exists()
    with pytest.raises(FieldError, match="encrypted at rest"):
        Message.objects.filter(cards__contains=[]).exists()
    assert Message.objects.filter(content_html="").count() == 1  # the question: empty stays ''


def test_page_api_and_admin_show_the_text(
    client: Client,
    talk: dict[str, Any],
    role_users: dict[str, Any],  # noqa: F811
) -> None:
    name, conversation = talk["name"], talk["conversation"]
    client.force_login(talk["agent"])
    page = client.get(f"/assistant/c/{conversation.pk}/").content.decode()
    assert escape(f"/customer {name}") in page and escape(f"About {name}") in page
    assert escape(name) in page  # the answer and its cards

    api = APIClient()
    api.force_authenticate(talk["agent"])
    detail = api.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert detail["title"] == f"About {name}"
    assert detail["messages"][0]["content"] == f"/customer {name}"
    assert name in detail["messages"][1]["content"]
    assert any(card.get("name") == name for card in detail["messages"][1]["cards"])
    listing = api.get("/api/v1/conversations/").json()
    assert listing["results"][0]["title"] == f"About {name}"

    client.force_login(role_users["admin"])
    change = client.get(f"/admin/assistant/conversation/{conversation.pk}/change/").text
    assert escape(f"/customer {name}") in change and escape(f"About {name}") in change
    listing_page = client.get("/admin/assistant/conversation/?q=agent")
    assert listing_page.status_code == 200 and escape(f"About {name}") in listing_page.text


def test_key_rotation_covers_every_assistant_column(talk: dict[str, Any], settings: Any) -> None:
    before = {(t, c): _raw(t, c) for t, columns in COLUMNS.items() for c in columns}
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    for model, columns in (
        ("Conversation", ["title"]),
        ("Message", COLUMNS["assistant_message"]),
        ("Feedback", ["comment"]),
        ("Handoff", ["reason", "notes"]),
    ):
        for column in columns:
            assert f"assistant.{model}.{column}:" in out.getvalue()
    for (table, column), values in before.items():
        after = _raw(table, column)
        assert all(a != b for a, b in zip(after, values, strict=True) if b), (table, column)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    message = Message.objects.get(pk=talk["message"].pk)
    assert talk["name"] in message.content
    assert Conversation.objects.get(pk=talk["conversation"].pk).title == f"About {talk['name']}"
