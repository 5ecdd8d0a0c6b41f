"""search_knowledge: passages of readable collections only, as citable sources."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.audit import fingerprint
from portal.models import AuditEvent
from tests.assistant.conftest import chat_requests, prompt_text
from tests.assistant.tools.conftest import tool_messages
from tests.knowledge.canaries import canary_word
from tests.knowledge.conftest import add_document, collections  # noqa: F401

pytestmark = pytest.mark.django_db


def test_search_in_an_unreadable_collection_is_refused(
    llm_server: Any,
    agent: Any,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    secret = canary_word("compliance-aml")
    add_document(collections["compliance-aml"], "AML", f"Thresholds {secret} fees.")
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge",
                         "arguments": {"query": "fees", "collection": "compliance-aml"}}]},
        {"content": "I could not search that collection."},
    ]  # fmt: skip
    message = ask(agent, "Search the AML collection for fees")
    second = chat_requests(llm_server)[1]
    result = json.loads(tool_messages(second)[0]["content"])
    assert "no collection 'compliance-aml'" in result["error"]
    assert all(secret not in prompt_text(r) for r in chat_requests(llm_server))
    assert message.tool_calls[0]["ok"] is False
    assert any(card["type"] == "notice" for card in message.cards)
    refused = AuditEvent.objects.get(action="assistant.tool_refused")
    assert refused.details["tool"] == "search_knowledge"
    assert refused.details["refusal"] == "refused_by_tool"
    answer_event = AuditEvent.objects.get(action="assistant.answer")
    assert answer_event.details["tools"][0] == {
        "name": "search_knowledge",
        # what the model wrote is kept as fingerprints (portal.audit)
        "arguments": {"query": fingerprint("fees"), "collection": fingerprint("compliance-aml")},
        "ok": False,
    }


def test_search_knowledge_adds_citable_sources(
    llm_server: Any,
    agent: Any,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    text = "# Overdraft\n\nThe overdraft fee is 7 euros."
    add_document(collections["products-fees"], "Overdraft", text)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "overdraft fee"}}]},
        {"content": "The overdraft fee is 7 euros [1]."},
    ]
    message = ask(agent, "zzz unrelated words qqq")
    tool_content = tool_messages(chat_requests(llm_server)[1])[0]["content"]
    assert "The overdraft fee is 7 euros." in tool_content
    assert message.citations and message.citations[0]["type"] == "chunk"
    assert 'class="citation"' in message.content_html


def test_an_archived_document_leaves_retrieval_at_once_and_returns_on_restore(
    llm_server: Any,
    agent: Any,
    ask: Any,
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
    make_user: Any,
) -> None:
    from knowledge.services import document_archive, document_restore
    from portal.permissions import Role

    marker = "zqoverdraftcanary"
    document = add_document(
        collections["products-fees"], "Overdraft", f"# Overdraft\n\nThe {marker} fee is 7 euros."
    )
    manager = make_user("archiver", Role.CONTENT_MANAGER)

    def retrieved() -> tuple[bool, bool]:
        """(in the sources given with the question, in the search tool's result)"""
        llm_server.requests.clear()
        llm_server.chat_replies = [
            {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "overdraft"}}]},
            {"content": "Done."},
        ]
        ask(agent, "What is the overdraft fee?")  # the marker only in the document
        first, second = chat_requests(llm_server)[:2]
        tool_content = tool_messages(second)[0]["content"]
        return marker in prompt_text(first), marker in tool_content

    assert retrieved() == (True, True)
    document_archive(actor=manager, document=document)
    assert retrieved() == (False, False)
    document_restore(actor=manager, document=document)
    assert retrieved() == (True, True)
