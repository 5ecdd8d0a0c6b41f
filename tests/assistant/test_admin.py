"""The assistant's admin pages: read-only, superusers only, answers as the superuser may read
them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from assistant.answering import answer
from assistant.presenters import REDACTED_NOTE
from assistant.services import conversation_create, feedback_record, handoff_create
from portal.permissions import Role
from tests.assistant.conftest import COMPLIANCE_CANARY

pytestmark = pytest.mark.django_db


def test_admin_pages_load_read_only_for_superusers(
    client: Client, make_user: Any, regions: dict[str, Any], without_llm: None
) -> None:
    agent = make_user("adm_agent", Role.AGENT, regions=[regions["north"]])
    conversation = conversation_create(owner=agent, title="Fees")
    answer(user=agent, conversation=conversation, text="What is the card fee?")
    handoff = handoff_create(actor=agent, conversation=conversation, reason="Needs a person")
    client.force_login(make_user("root_a", Role.ADMIN, is_staff=True, is_superuser=True))
    for url in (
        "/admin/assistant/conversation/",
        f"/admin/assistant/conversation/{conversation.pk}/change/",
        "/admin/assistant/handoff/",
        f"/admin/assistant/handoff/{handoff.pk}/change/",
        "/admin/assistant/feedback/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/assistant/conversation/{conversation.pk}/change/")
    assert b"What is the card fee?" in page.content
    assert b'name="_save"' not in page.content  # nothing to save: read-only
    assert client.get("/admin/assistant/conversation/add/").status_code == 403


def test_content_manager_with_staff_access_sees_no_conversations(
    client: Client, make_user: Any
) -> None:
    client.force_login(make_user("staff_cm", Role.CONTENT_MANAGER, is_staff=True))
    assert client.get("/admin/assistant/conversation/").status_code == 403
    assert b"/admin/assistant/" not in client.get("/admin/").content


def test_admin_pages_hide_answers_drawn_from_collections_the_superuser_may_not_read(
    client: Client, role_users: dict[str, Any], documents: dict[str, Any], llm_server: Any
) -> None:
    # Leak-matrix findings: the conversation's message inline (fields, and each message's
    # header, str(message)) and the feedback pages showed stored answers as written, so a
    # superuser read AML passages (its role does not read compliance-aml) quoted in a
    # compliance officer's answer.
    llm_server.chat_replies.append({"content": "Suspicious activity threshold is secret. [1]"})
    officer = role_users["compliance"]
    conversation = conversation_create(owner=officer, title="Thresholds")
    message = answer(
        user=officer, conversation=conversation, text="What is the suspicious activity threshold?"
    )
    quoted = "Suspicious activity threshold is secret."
    assert quoted in message.content  # the officer's answer quotes the AML text
    feedback = feedback_record(user=officer, message=message, helpful=True, comment="ok")
    client.force_login(role_users["admin"])
    for url in (
        f"/admin/assistant/conversation/{conversation.pk}/change/",
        "/admin/assistant/feedback/",
        f"/admin/assistant/feedback/{feedback.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert quoted not in page.text and COMPLIANCE_CANARY not in page.text, url
    assert REDACTED_NOTE in client.get(f"/admin/assistant/feedback/{feedback.pk}/change/").text
    change = client.get(f"/admin/assistant/conversation/{conversation.pk}/change/").text
    assert REDACTED_NOTE in change and "What is the suspicious activity threshold?" in change
