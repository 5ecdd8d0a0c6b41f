"""The assistant API: conversations, answers as JSON and as server-sent events, feedback,
hand-offs; who may read and who may post; one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from assistant.models import Conversation, Feedback, Handoff, Message, MessageRole
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from portal.models import TOKEN_SCOPES, AuditEvent
from portal.permissions import Role
from portal.services import api_token_create
from tests.assistant.conftest import FEES_TEXT
from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

FEE_QUESTION = "What is the annual card fee?"
MESSAGE_FIELDS = {
    "id",
    "role",
    "content",
    "content_html",
    "redacted",
    "citations",
    "cards",
    "tool_calls",
    "model_name",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "error",
    "created_at",
    "feedback",
}


def _client(user: Any) -> APIClient:
    """A client authenticated the way integrations are: a bearer token."""
    _, key = api_token_create(user=user, name=f"test-{user.username}", scopes=TOKEN_SCOPES)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}, body
    return body


def _assert_validation_error(response: Any, *fields: str) -> dict[str, Any]:
    body = _assert_error(response, 400)
    assert body["message"] == "Validation error"
    assert set(fields) <= set(body["extra"]["fields"]), body
    return body


def _sse_events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a text/event-stream body."""
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n\n")
    events = []
    for block in body.split("\n\n"):
        if not block:
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(lines) == {"event", "data"}, block
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def fees(collections: dict[str, Any], add_document: Any) -> Any:  # noqa: F811
    return add_document(collections["products-fees"], "Card fees", FEES_TEXT)


@pytest.fixture
def agent(role_users: dict[str, Any]) -> Any:  # noqa: F811
    return role_users["agent"]


@pytest.fixture
def supervisor(role_users: dict[str, Any]) -> Any:  # noqa: F811
    return role_users["supervisor"]


@pytest.fixture
def south_supervisor(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("supervisor-south", Role.SUPERVISOR, regions=[regions["south"]])


def _conversation(client: APIClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/conversations/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _ask(client: APIClient, conversation_id: int, text: str, **extra: Any) -> Any:
    """Post a question; ``HTTP_*`` keywords are headers, the others go in the body."""
    headers = {key: value for key, value in extra.items() if key.startswith("HTTP_")}
    body = {"text": text, **{k: v for k, v in extra.items() if k not in headers}}
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages/", body, format="json", **headers
    )


def _handed_off(agent: Any) -> tuple[APIClient, dict[str, Any], dict[str, Any]]:
    """An agent's conversation with one answered question, handed off (north queue)."""
    client = _client(agent)
    conversation = _conversation(client, title="Needs a person")
    assert _ask(client, conversation["id"], FEE_QUESTION).status_code == 201
    handoff = client.post(
        "/api/v1/handoffs/",
        {"conversation": conversation["id"], "reason": "Customer disputes the fee."},
        format="json",
    )
    assert handoff.status_code == 201, handoff.content
    return client, conversation, handoff.json()


# --- authentication and roles ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/conversations/"),
        ("post", "/api/v1/conversations/"),
        ("get", "/api/v1/conversations/1/"),
        ("post", "/api/v1/conversations/1/messages/"),
        ("post", "/api/v1/messages/1/feedback/"),
        ("get", "/api/v1/handoffs/"),
        ("post", "/api/v1/handoffs/"),
        ("post", "/api/v1/handoffs/1/assign/"),
        ("post", "/api/v1/handoffs/1/resolve/"),
    ],
)
def test_anonymous_gets_401(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    _assert_error(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_anonymous_stream_request_gets_a_json_401() -> None:
    response = APIClient().post(
        "/api/v1/conversations/1/messages/?stream=true", HTTP_ACCEPT="text/event-stream"
    )
    _assert_error(response, 401)
    assert response["Content-Type"] == "application/json"


def test_integration_role_may_not_use_the_assistant(
    no_llm: None,
    agent: Any,
    role_users: dict[str, Any],  # noqa: F811
) -> None:
    _, conversation, handoff = _handed_off(agent)
    answer_id = Message.objects.get(role=MessageRole.ASSISTANT).pk
    robot = _client(role_users["integration"])
    refused = "Your role may not ask assistant."
    for response in (
        robot.get("/api/v1/conversations/"),
        robot.post("/api/v1/conversations/", {"title": "x"}, format="json"),
        _ask(robot, conversation["id"], "hello"),
        robot.post(f"/api/v1/messages/{answer_id}/feedback/", {"helpful": True}, format="json"),
        robot.post(
            "/api/v1/handoffs/",
            {"conversation": conversation["id"], "reason": "x"},
            format="json",
        ),
    ):
        assert _assert_error(response, 403)["message"] == refused
    _assert_error(robot.post(f"/api/v1/handoffs/{handoff['id']}/assign/"), 403)
    # Reading is by visibility: nothing of someone else's is visible to it.
    _assert_error(robot.get(f"/api/v1/conversations/{conversation['id']}/"), 404)
    assert robot.get("/api/v1/handoffs/").json()["results"] == []
    assert not Conversation.objects.filter(owner=role_users["integration"]).exists()
    assert Message.objects.count() == 2


def test_session_auth_works_too(client: Client, no_llm: None, agent: Any) -> None:
    client.force_login(agent)
    response = client.post(
        "/api/v1/conversations/", {"title": "From the browser"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert client.get("/api/v1/conversations/").json()["count"] == 1


# --- conversations ------------------------------------------------------------------------


def test_conversation_create_and_list(
    agent: Any,
    supervisor: Any,
    regions: dict[str, Any],
) -> None:
    seed_customers(count=6)
    north = Customer.objects.filter(region=regions["north"]).order_by("pk").first()
    south = Customer.objects.filter(region=regions["south"]).order_by("pk").first()
    assert north is not None and south is not None
    client = _client(agent)

    first = _conversation(client, title="  Card fees  ")
    assert set(first) == {
        "id",
        "title",
        "owner",
        "customer",
        "can_post",
        "created_at",
        "updated_at",
    }
    assert first["title"] == "Card fees"
    assert first["owner"] == "agent"
    assert first["customer"] is None
    assert first["can_post"] is True
    second = _conversation(client, customer=north.pk)
    assert second["customer"] == north.pk
    assert AuditEvent.objects.filter(action="assistant.conversation_create").count() == 2

    # A customer outside the agent's regions reads exactly like one that does not exist.
    hidden = _assert_validation_error(
        client.post("/api/v1/conversations/", {"customer": south.pk}, format="json"), "customer"
    )
    missing = _assert_validation_error(
        client.post("/api/v1/conversations/", {"customer": 999999}, format="json"), "customer"
    )
    assert hidden == missing
    _assert_validation_error(
        client.post("/api/v1/conversations/", {"title": "x" * 201}, format="json"), "title"
    )
    _conversation(_client(supervisor), title="The supervisor's own")

    listing = client.get("/api/v1/conversations/").json()
    assert set(listing) == {"count", "next", "previous", "results"}
    assert listing["count"] == 2
    assert [c["id"] for c in listing["results"]] == [second["id"], first["id"]]


def test_json_answer_with_citations_without_a_model(no_llm: None, fees: Any, agent: Any) -> None:
    client = _client(agent)
    conversation = _conversation(client, title="Fees")
    response = _ask(client, conversation["id"], FEE_QUESTION)

    assert response.status_code == 201, response.content
    body = response.json()
    question, answer = body["question"], body["answer"]
    assert set(question) == MESSAGE_FIELDS and set(answer) == MESSAGE_FIELDS
    assert question["role"] == "user" and question["content"] == FEE_QUESTION
    assert question["content_html"] == "" and question["feedback"] is None
    assert answer["role"] == "assistant"
    assert answer["model_name"] == "extractive"
    assert answer["error"] == ""
    assert "5 euros" in answer["content"]
    assert answer["citations"][0]["n"] == 1
    assert answer["citations"][0]["document_id"] == fees.pk
    assert f'href="/knowledge/documents/{fees.pk}/#chunk-' in answer["content_html"]
    assert answer["feedback"] is None

    detail = client.get(f"/api/v1/conversations/{conversation['id']}/").json()
    assert detail["messages"] == [question, answer]
    assert detail["handoffs"] == []
    assert detail["can_post"] is True


def test_json_answer_from_the_model(server: FakeOpenAI, fees: Any, agent: Any) -> None:
    server.chat_replies.append({"content": "The annual card fee is 5 euros [1]."})
    client = _client(agent)
    conversation = _conversation(client)
    answer = _ask(client, conversation["id"], FEE_QUESTION).json()["answer"]

    assert answer["content"] == "The annual card fee is 5 euros [1]."
    assert answer["model_name"] == "test-model"
    assert answer["prompt_tokens"] and answer["completion_tokens"]
    assert answer["latency_ms"] is not None
    assert [c["document_id"] for c in answer["citations"]] == [fees.pk]
    assert 'class="citation"' in answer["content_html"]


def test_commands_and_tool_calls_are_shown(no_llm: None, agent: Any) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    answer = _ask(client, conversation["id"], "/escalate The customer wants a person").json()[
        "answer"
    ]
    assert answer["model_name"] == "command"
    assert [call["name"] for call in answer["tool_calls"]] == ["escalate_to_human"]
    assert answer["tool_calls"][0]["ok"] is True
    assert set(answer["tool_calls"][0]) == {"id", "name", "arguments", "ok", "summary"}
    assert answer["cards"][0]["type"] == "handoff"
    detail = client.get(f"/api/v1/conversations/{conversation['id']}/").json()
    assert [h["id"] for h in detail["handoffs"]] == [answer["cards"][0]["handoff_id"]]


# --- server-sent events -------------------------------------------------------------------


def test_answer_as_server_sent_events(server: FakeOpenAI, fees: Any, agent: Any) -> None:
    server.chat_replies += [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "replacement"}}]},
        {"content": "The annual card fee is 5 euros [1]."},
    ]
    client = _client(agent)
    conversation = _conversation(client)
    response = _ask(
        client,
        conversation["id"],
        FEE_QUESTION,
        stream=True,
        HTTP_ACCEPT="text/event-stream",
        HTTP_X_REQUEST_ID="stream-request-0001",
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]  # personal: never cached
    assert response["X-Accel-Buffering"] == "no"
    events = _sse_events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "question"
    assert kinds[-1] == "done"
    assert "delta" in kinds
    assert set(kinds[1:-1]) == {"tool", "delta"}
    assert kinds.index("tool") < kinds.index("delta")  # the tool round came first

    question = Message.objects.get(role=MessageRole.USER)
    assert events[0][1] == {"message_id": question.pk}
    assert question.content == FEE_QUESTION
    tool = next(data for kind, data in events if kind == "tool")
    assert tool["name"] == "search_knowledge" and tool["ok"] is True and tool["summary"]
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    assert text.strip() == "The annual card fee is 5 euros [1]."

    done = events[-1][1]
    stored = Message.objects.get(role=MessageRole.ASSISTANT)
    assert done["id"] == stored.pk
    assert done["content"] == stored.content == text.strip()
    assert done["citations"] == stored.citations and done["citations"]
    assert done["content_html"] == stored.content_html
    assert done["tool_calls"][0]["name"] == "search_knowledge"
    assert done["error"] == ""
    detail = client.get(f"/api/v1/conversations/{conversation['id']}/").json()
    assert detail["messages"][-1] == done

    # The audit of the streamed answer still carries the request's id (ours; the client's
    # X-Request-ID kept beside it).
    event = AuditEvent.objects.get(action="assistant.answer")
    assert event.request_id == response["X-Request-ID"]
    assert event.details["client_request_id"] == "stream-request-0001"


def test_stream_via_query_parameter_and_accept_header_alone(
    no_llm: None,
    fees: Any,
    agent: Any,
) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/?stream=true",
        {"text": FEE_QUESTION},
        format="json",
    )
    events = _sse_events(response)
    # The extractive answerer writes no deltas: the whole answer comes with `done`.
    assert [kind for kind, _ in events] == ["question", "done"]
    assert "5 euros" in events[-1][1]["content"]

    # Accept: text/event-stream is never refused (no 406); without `stream`, JSON.
    plain = _ask(client, conversation["id"], FEE_QUESTION, HTTP_ACCEPT="text/event-stream")
    assert plain.status_code == 201
    assert plain["Content-Type"] == "application/json"
    assert plain.json()["answer"]["role"] == "assistant"


def test_the_stream_is_what_the_schema_says(no_llm: None, fees: Any, agent: Any) -> None:
    """Found by the API fuzzer: the schema called the stream a string, and an event stream's
    schema describes each event (its name and its data)."""
    client = _client(agent)
    conversation = _conversation(client)
    events = _sse_events(_ask(client, conversation["id"], FEE_QUESTION, stream=True))
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/conversations/{id}/messages/"]["post"]
    event = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert event["type"] == "object"
    assert event["required"] == ["event", "data"]
    assert {kind for kind, _ in events} <= set(event["properties"]["event"]["enum"])


def test_stream_errors_are_json_before_any_event(
    no_llm: None,
    agent: Any,
    role_users: dict[str, Any],  # noqa: F811
) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    sse = {"stream": True, "HTTP_ACCEPT": "text/event-stream"}
    empty = _ask(client, conversation["id"], "   ", **sse)
    _assert_validation_error(empty, "text")
    assert empty["Content-Type"] == "application/json"
    other = _client(role_users["compliance"])
    _assert_error(_ask(other, conversation["id"], "hello", **sse), 404)
    assert not Message.objects.exists()


# --- errors -------------------------------------------------------------------------------


def test_validation_errors(no_llm: None, agent: Any, settings: Any) -> None:
    settings.ASSISTANT_MAX_QUESTION_CHARS = 10
    client = _client(agent)
    conversation = _conversation(client)
    path = f"/api/v1/conversations/{conversation['id']}/messages/"
    _assert_validation_error(client.post(path, {}, format="json"), "text")
    body = _assert_validation_error(_ask(client, conversation["id"], "   "), "text")
    assert body["extra"]["fields"]["text"] == ["Enter a question."]
    too_long = _assert_validation_error(_ask(client, conversation["id"], "x" * 11), "text")
    assert "longer than 10" in too_long["extra"]["fields"]["text"][0]
    _assert_validation_error(_ask(client, conversation["id"], "hi", stream="maybe"), "stream")
    assert not Message.objects.exists()


def test_rate_limit_429_with_retry_after(no_llm: None, agent: Any, settings: Any) -> None:
    settings.ASSISTANT_RATE_LIMIT_PER_MINUTE = 2
    client = _client(agent)
    conversation = _conversation(client)
    assert _ask(client, conversation["id"], "/help").status_code == 201
    assert _ask(client, conversation["id"], "/help").status_code == 201

    refused = _ask(client, conversation["id"], "one more question")
    body = _assert_error(refused, 429)
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["extra"]["retry_after"] == retry_after
    assert body["extra"]["limit_per_minute"] == 2
    assert "not sent" in body["message"]
    streamed = _ask(client, conversation["id"], "one more question", stream=True)
    _assert_error(streamed, 429)
    assert streamed["Retry-After"]
    # content is encrypted (no SQL filter on it): compared in Python
    assert "one more question" not in Message.objects.values_list("content", flat=True)
    assert Message.objects.filter(role=MessageRole.USER).count() == 2


def test_model_failure_is_an_answer_with_an_error(
    server: FakeOpenAI,
    fees: Any,
    agent: Any,
) -> None:
    server.fail_next = 1
    client = _client(agent)
    conversation = _conversation(client)
    response = _ask(client, conversation["id"], FEE_QUESTION)

    assert response.status_code == 201
    body = response.json()
    assert body["question"]["content"] == FEE_QUESTION
    assert "HTTP 500" in body["answer"]["error"]
    assert body["answer"]["citations"] == []
    stored = list(Message.objects.order_by("id").values_list("role", "content"))
    assert stored[0] == (MessageRole.USER, FEE_QUESTION)
    assert len(stored) == 2


def test_model_timeout_in_a_stream(
    server: FakeOpenAI,
    fees: Any,
    agent: Any,
    settings: Any,
) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.5
    server.delay_seconds = 1.5
    client = _client(agent)
    conversation = _conversation(client)
    events = _sse_events(_ask(client, conversation["id"], FEE_QUESTION, stream=True))

    assert [kind for kind, _ in events] == ["question", "done"]
    assert "did not answer in time" in events[-1][1]["error"]
    assert Message.objects.get(role=MessageRole.USER).content == FEE_QUESTION


# --- who may read and post ----------------------------------------------------------------


def test_other_users_conversation_is_404(
    no_llm: None,
    agent: Any,
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    answer = _ask(client, conversation["id"], "/help").json()["answer"]
    colleague = _client(make_user("agent2", Role.AGENT, regions=[regions["north"]]))

    for response in (
        colleague.get(f"/api/v1/conversations/{conversation['id']}/"),
        _ask(colleague, conversation["id"], "hello"),
        colleague.post(
            f"/api/v1/messages/{answer['id']}/feedback/", {"helpful": False}, format="json"
        ),
        colleague.get("/api/v1/conversations/999999/"),
    ):
        _assert_error(response, 404)
    assert colleague.get("/api/v1/conversations/").json()["count"] == 0
    assert Message.objects.count() == 2
    assert not Feedback.objects.exists()


def test_supervisor_reads_a_handed_off_conversation_read_only(
    no_llm: None,
    agent: Any,
    supervisor: Any,
    south_supervisor: Any,
) -> None:
    _, conversation, handoff = _handed_off(agent)
    path = f"/api/v1/conversations/{conversation['id']}/"
    answer_id = Message.objects.get(role=MessageRole.ASSISTANT).pk
    boss = _client(supervisor)

    detail = boss.get(path)
    assert detail.status_code == 200
    data = detail.json()
    assert data["owner"] == "agent"
    assert data["can_post"] is False
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert [h["id"] for h in data["handoffs"]] == [handoff["id"]]
    # Read-only: no asking, no rating, no second hand-off, not among their conversations.
    _assert_error(_ask(boss, conversation["id"], "Let me add something"), 403)
    _assert_error(
        boss.post(f"/api/v1/messages/{answer_id}/feedback/", {"helpful": True}, format="json"),
        403,
    )
    _assert_error(
        boss.post(
            "/api/v1/handoffs/", {"conversation": conversation["id"], "reason": "x"}, format="json"
        ),
        403,
    )
    assert boss.get("/api/v1/conversations/").json()["count"] == 0

    other = _client(south_supervisor)
    _assert_error(other.get(path), 404)
    _assert_error(_ask(other, conversation["id"], "hello"), 404)
    _assert_error(other.post(f"/api/v1/handoffs/{handoff['id']}/assign/"), 404)
    _assert_error(
        other.post(f"/api/v1/handoffs/{handoff['id']}/resolve/", {"notes": "x"}, format="json"),
        404,
    )
    assert other.get("/api/v1/handoffs/").json()["count"] == 0
    assert Message.objects.count() == 2
    assert not Feedback.objects.exists()


# --- feedback -----------------------------------------------------------------------------


def test_feedback_create_change_and_show(no_llm: None, fees: Any, agent: Any) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    exchange = _ask(client, conversation["id"], FEE_QUESTION).json()
    path = f"/api/v1/messages/{exchange['answer']['id']}/feedback/"

    created = client.post(path, {"helpful": False, "comment": " Wrong fee "}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "message", "helpful", "comment", "created_at"}
    assert body["message"] == exchange["answer"]["id"]
    assert body["helpful"] is False and body["comment"] == "Wrong fee"

    changed = client.post(path, {"helpful": True}, format="json")
    assert changed.status_code == 200
    assert changed.json()["id"] == body["id"]
    assert changed.json()["helpful"] is True and changed.json()["comment"] == ""
    assert Feedback.objects.count() == 1
    assert AuditEvent.objects.filter(action="assistant.feedback").count() == 2

    messages = client.get(f"/api/v1/conversations/{conversation['id']}/").json()["messages"]
    assert messages[0]["feedback"] is None
    assert messages[1]["feedback"] == changed.json()

    # Only answers are rated; the body is checked.
    _assert_error(
        client.post(
            f"/api/v1/messages/{exchange['question']['id']}/feedback/",
            {"helpful": True},
            format="json",
        ),
        403,
    )
    _assert_validation_error(client.post(path, {"comment": "no verdict"}, format="json"), "helpful")
    _assert_error(client.post("/api/v1/messages/999999/feedback/", {"helpful": True}), 404)


# --- hand-offs ----------------------------------------------------------------------------


def test_handoff_create_and_duplicate(no_llm: None, agent: Any) -> None:
    client = _client(agent)
    conversation = _conversation(client)
    body = {"conversation": conversation["id"], "reason": "Customer is upset."}

    created = client.post("/api/v1/handoffs/", body, format="json")
    assert created.status_code == 201, created.content
    handoff = created.json()
    assert handoff["status"] == "open"
    assert handoff["conversation"] == conversation["id"]
    assert handoff["region"] == "north"
    assert handoff["created_by"] == "agent"
    assert handoff["assignee"] is None and handoff["resolved_at"] is None

    again = client.post("/api/v1/handoffs/", {**body, "reason": "Again"}, format="json")
    assert again.status_code == 200
    assert again.json() == handoff
    assert Handoff.objects.count() == 1

    _assert_validation_error(
        client.post(
            "/api/v1/handoffs/", {"conversation": conversation["id"], "reason": " "}, format="json"
        ),
        "reason",
    )
    _assert_validation_error(
        client.post("/api/v1/handoffs/", {"conversation": 999999, "reason": "x"}, format="json"),
        "conversation",
    )


def test_handoff_assign_resolve_and_list_filters(
    no_llm: None,
    agent: Any,
    supervisor: Any,
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    owner, conversation, handoff = _handed_off(agent)
    colleague = make_user("supervisor2", Role.SUPERVISOR, regions=[regions["north"]])
    boss = _client(supervisor)
    assign = f"/api/v1/handoffs/{handoff['id']}/assign/"
    resolve = f"/api/v1/handoffs/{handoff['id']}/resolve/"

    queue = boss.get("/api/v1/handoffs/?status=open").json()
    assert [h["id"] for h in queue["results"]] == [handoff["id"]]
    assert boss.get("/api/v1/handoffs/?status=assigned").json()["count"] == 0
    _assert_validation_error(boss.get("/api/v1/handoffs/?status=lost"), "status")

    # Agents may not take hand-offs.
    _assert_error(owner.post(assign), 403)

    taken = boss.post(assign)
    assert taken.status_code == 200, taken.content
    assert taken.json()["status"] == "assigned"
    assert taken.json()["assignee"] == "supervisor"

    given = boss.post(assign, {"assignee": colleague.username}, format="json")
    assert given.json()["assignee"] == "supervisor2"
    by_id = boss.post(assign, {"assignee": str(supervisor.pk)}, format="json")
    assert by_id.json()["assignee"] == "supervisor"
    # "²": isdigit, not int; PostgreSQL's bigint refuses 19 digits (a username may hold 150)
    for nobody in ("agent", "no-such-user", "999999", "\u00b2", "9" * 150, "9" * 19):
        body = _assert_validation_error(
            boss.post(assign, {"assignee": nobody}, format="json"), "assignee"
        )
        assert body["extra"]["fields"]["assignee"] == [
            "That person cannot take hand-offs of this region."
        ]
    assert Handoff.objects.get().assignee == supervisor

    assert boss.get("/api/v1/handoffs/?status=assigned").json()["count"] == 1
    _assert_validation_error(boss.post(resolve, {"notes": "  "}, format="json"), "notes")
    _assert_validation_error(boss.post(resolve, {}, format="json"), "notes")
    resolved = boss.post(resolve, {"notes": "Called the customer back."}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["notes"] == "Called the customer back."
    assert resolved.json()["resolved_at"] is not None

    # Resolved: no more changes; still listed (and readable) under its status.
    _assert_validation_error(boss.post(assign))
    _assert_validation_error(boss.post(resolve, {"notes": "again"}, format="json"))
    assert boss.get("/api/v1/handoffs/?status=open").json()["count"] == 0
    assert [h["id"] for h in boss.get("/api/v1/handoffs/?status=resolved").json()["results"]] == [
        handoff["id"]
    ]
    mine = owner.get("/api/v1/handoffs/").json()
    assert [(h["id"], h["status"]) for h in mine["results"]] == [(handoff["id"], "resolved")]
    assert boss.get(f"/api/v1/conversations/{conversation['id']}/").status_code == 200
    assert AuditEvent.objects.filter(action="assistant.handoff_resolve").count() == 1

    # A new hand-off of the same conversation is possible once the first is resolved.
    again = owner.post(
        "/api/v1/handoffs/",
        {"conversation": conversation["id"], "reason": "Still unhappy."},
        format="json",
    )
    assert again.status_code == 201
    assert again.json()["id"] != handoff["id"]


def test_a_failure_mid_stream_ends_with_an_error_event(
    no_llm: None,
    fees: Any,
    agent: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("renderer broke")

    # The status line is sent before the answer is written: a failure after it can only be
    # reported in the stream itself.
    monkeypatch.setattr("assistant.answering.pipeline.render_answer", broken)
    client = _client(agent)
    conversation = _conversation(client)
    response = _ask(client, conversation["id"], FEE_QUESTION, stream=True)

    assert response.status_code == 200
    events = _sse_events(response)
    assert [kind for kind, _ in events] == ["question", "error"]
    assert set(events[-1][1]) == {"message", "extra"}
    assert list(Message.objects.values_list("role", "content")) == [
        (MessageRole.USER, FEE_QUESTION)
    ]
