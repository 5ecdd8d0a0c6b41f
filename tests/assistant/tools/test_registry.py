"""The tool registry through the fake model: tools offered by role, schema-checked, refused
and audited; the tool rounds capped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.tools import tool_specs
from forms_app.models import FormSubmission
from portal.models import AuditEvent
from portal.permissions import Role
from tests.assistant.conftest import chat_requests
from tests.assistant.tools.conftest import tool_messages

pytestmark = pytest.mark.django_db


def test_tools_offered_follow_the_role(make_user: Any, regions: dict[str, Any]) -> None:
    agent = make_user("a", Role.AGENT, regions=[regions["north"]])
    content = make_user("c", Role.CONTENT_MANAGER)
    names = {spec["function"]["name"] for spec in tool_specs(agent)}
    assert names == {"search_knowledge", "lookup_customer", "prefill_form", "escalate_to_human"}
    content_names = {spec["function"]["name"] for spec in tool_specs(content)}
    assert content_names == {"search_knowledge", "escalate_to_human"}
    for spec in tool_specs(agent):
        assert spec["function"]["parameters"]["additionalProperties"] is False


def test_tools_are_sent_to_the_model(llm_server: Any, agent: Any, ask: Any) -> None:
    ask(agent, "What is the card fee?")
    request = chat_requests(llm_server)[0]
    sent = {tool["function"]["name"] for tool in request["body"]["tools"]}
    assert sent == {"search_knowledge", "lookup_customer", "prefill_form", "escalate_to_human"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"form_slug": "card-dispute", "customer_id": "abc"}, "Invalid arguments (customer_id)"),
        ({"form_slug": "card-dispute"}, "'customer_id' is a required property"),
        ({"form_slug": "card-dispute", "customer_id": 1, "extra": 1}, "Additional properties"),
        ('{"form_slug": ', "Invalid JSON arguments"),
    ],
)
def test_arguments_are_checked_against_the_schema(
    llm_server: Any, agent: Any, ask: Any, bank: dict[str, Any], arguments: Any, expected: str
) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "prefill_form", "arguments": arguments}]},
        {"content": "Sorry."},
    ]
    message = ask(agent, "Start a dispute")
    result = json.loads(tool_messages(chat_requests(llm_server)[1])[0]["content"])
    assert expected in result["error"]
    assert message.tool_calls[0]["ok"] is False
    assert not FormSubmission.objects.exists()


def test_unknown_tool_is_refused(llm_server: Any, agent: Any, ask: Any) -> None:
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "delete_everything", "arguments": {}}]},
        {"content": "Done."},
    ]
    message = ask(agent, "Please")
    assert "There is no tool named 'delete_everything'" in message.tool_calls[0]["summary"]


def test_a_tool_the_role_lacks_is_refused(llm_server: Any, make_user: Any, ask: Any) -> None:
    content = make_user("content_tools", Role.CONTENT_MANAGER)
    llm_server.chat_replies = [
        {"tool_calls": [{"name": "lookup_customer", "arguments": {"query": "Smith"}}]},
        {"content": "No."},
    ]
    message = ask(content, "Who is Smith?")
    assert "may not use lookup_customer" in message.tool_calls[0]["summary"]
    assert not AuditEvent.objects.filter(action="customer.searched").exists()


def test_tool_rounds_are_capped(llm_server: Any, agent: Any, ask: Any, settings: Any) -> None:
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 2
    call = {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "fees"}}]}
    llm_server.chat_replies = [call, call, {"content": "Final."}]
    message = ask(agent, "fees")
    requests = chat_requests(llm_server)
    assert len(requests) == 3
    assert "tools" not in requests[2]["body"]  # the last round may only answer
    assert message.content == "Final."
