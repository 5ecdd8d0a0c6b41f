"""The assistant's portal pages: chat, streaming, previews, feedback, hand-offs, dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from assistant.answering import answer
from assistant.models import Conversation, Feedback, Handoff, Message, MessageRole
from assistant.services import conversation_create, handoff_create
from knowledge.customers.models import Customer
from portal.models import AuditEvent
from portal.permissions import Role
from tests.assistant.conftest import PRODUCTS_CANARY
from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

SSE = {"HTTP_ACCEPT": "text/event-stream"}
FRAGMENT = {"HTTP_X_FRAGMENT": "1"}
QUESTION = "What is the annual card fee?"


def _html(response: Any) -> str:
    return response.content.decode()


def _events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a streaming response, in order."""
    return _parse(b"".join(response.streaming_content).decode())


def _parse(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        kind = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        assert kind and data, block
        events.append((kind.group(1), json.loads(data.group(1))))
    return events


def _login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def customers(regions: dict[str, Any]) -> dict[str, Customer]:
    """A north and a south customer (with a card transaction) of the demo data."""
    from knowledge.customers.demo import seed_customers

    seed_customers(count=20)
    north = (
        Customer.objects.filter(region=regions["north"], accounts__transactions__isnull=False)
        .exclude(accounts__card_last4="")
        .order_by("pk")
        .first()
    )
    south = Customer.objects.filter(region=regions["south"]).order_by("pk").first()
    assert north is not None and south is not None
    return {"north": north, "south": south}


@pytest.fixture
def forms(db: None) -> None:
    from forms_app.demo import seed_forms

    seed_forms()


@pytest.fixture
def handed_off(agent: Any, no_llm: None, documents: dict[str, Any]) -> Conversation:
    """An agent's answered conversation, handed off to the north queue."""
    conversation = conversation_create(owner=agent, title="Fee question")
    answer(user=agent, conversation=conversation, text=QUESTION)
    handoff_create(actor=agent, conversation=conversation, reason="Customer wants a refund")
    return conversation


# Access ----------------------------------------------------------------------------------


def test_every_page_requires_login(client: Client) -> None:
    gets = [
        reverse("assistant:chat"),
        reverse("assistant:conversation", args=[1]),
        reverse("assistant:message_fragment", args=[1]),
        reverse("assistant:citation_preview", args=[1, 1]),
        reverse("assistant:handoff_queue"),
    ]
    posts = [
        reverse("assistant:conversation_create"),
        reverse("assistant:ask", args=[1]),
        reverse("assistant:escalate", args=[1]),
        reverse("assistant:feedback", args=[1]),
        reverse("assistant:handoff_assign", args=[1]),
        reverse("assistant:handoff_resolve", args=[1]),
    ]
    for path in gets:
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), path
    for path in posts:
        response = client.post(path)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), path


def test_actions_are_checked(
    client: Client,
    role_users: dict[str, Any],  # noqa: F811
) -> None:
    _login(client, role_users["integration"])
    assert client.get(reverse("assistant:chat")).status_code == 403
    _login(client, role_users["agent"])
    assert client.get(reverse("assistant:chat")).status_code == 200
    assert client.get(reverse("assistant:handoff_queue")).status_code == 403
    assert client.post(reverse("assistant:handoff_assign", args=[1])).status_code == 403
    _login(client, role_users["content_manager"])
    assert client.get(reverse("assistant:chat")).status_code == 200
    assert client.get(reverse("assistant:handoff_queue")).status_code == 403


def test_another_users_conversation_answers_404(
    client: Client,
    handed_off: Conversation,
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    other = make_user("agent2", Role.AGENT, regions=[regions["north"]])
    reply = handed_off.messages.get(role=MessageRole.ASSISTANT)
    _login(client, other)
    pk = handed_off.pk
    assert client.get(reverse("assistant:conversation", args=[pk])).status_code == 404
    assert client.post(reverse("assistant:ask", args=[pk]), {"text": "hi"}).status_code == 404
    response = client.post(reverse("assistant:ask", args=[pk]), {"text": "hi"}, **SSE)
    assert response.status_code == 404
    assert client.get(reverse("assistant:citation_preview", args=[reply.pk, 1])).status_code == 404
    assert client.get(reverse("assistant:message_fragment", args=[reply.pk])).status_code == 404
    response = client.post(reverse("assistant:feedback", args=[reply.pk]), {"helpful": "1"})
    assert response.status_code == 404
    response = client.post(reverse("assistant:escalate", args=[pk]), {"reason": "take it"})
    assert response.status_code == 404
    assert handed_off.messages.count() == 2
    assert not Feedback.objects.exists()
    assert Handoff.objects.count() == 1


# The chat pages --------------------------------------------------------------------------


def test_conversation_list_is_own_and_newest_first(
    client: Client, agent: Any, make_user: Any, regions: dict[str, Any]
) -> None:
    older = conversation_create(owner=agent, title="Older topic")
    newer = conversation_create(owner=agent)
    Message.objects.create(conversation=newer, role=MessageRole.USER, content="Card limits?")
    other = make_user("agent2", Role.AGENT, regions=[regions["north"]])
    conversation_create(owner=other, title="Someone else's")
    html = _html(_login(client, agent).get(reverse("assistant:chat")))
    assert "Someone else" not in html
    assert html.index("Card limits?") < html.index("Older topic")
    assert f'href="{reverse("assistant:conversation", args=[older.pk])}"' in html


def test_new_conversation_and_customer_from_a_link(
    client: Client, agent: Any, customers: dict[str, Customer]
) -> None:
    _login(client, agent)
    response = client.post(reverse("assistant:conversation_create"), {"title": "  Fees  "})
    conversation = Conversation.objects.get(owner=agent)
    assert response.status_code == 302
    assert response.url == reverse("assistant:conversation", args=[conversation.pk])
    assert conversation.title == "Fees"

    north, south = customers["north"], customers["south"]
    html = _html(client.get(reverse("assistant:chat"), {"customer": north.pk}))
    assert north.full_name in html and f'name="customer" value="{north.pk}"' in html
    response = client.post(reverse("assistant:conversation_create"), {"customer": north.pk})
    assert response.status_code == 302
    assert Conversation.objects.filter(owner=agent, customer=north).exists()
    page = _html(client.get(response.url))
    assert f'href="{reverse("customers:detail", args=[north.pk])}"' in page

    # A customer of another region answers like a missing one.
    assert client.get(reverse("assistant:chat"), {"customer": south.pk}).status_code == 404
    response = client.post(reverse("assistant:conversation_create"), {"customer": south.pk})
    assert response.status_code == 404
    assert not Conversation.objects.filter(customer=south).exists()


@pytest.mark.parametrize("raw", ["\u00b2", "1\u00b2", "\u0661\u0662", "x1", "9" * 5000, "9" * 19])
def test_a_customer_id_that_is_not_ascii_digits_answers_404_never_500(
    client: Client, agent: Any, raw: str
) -> None:
    # "²" passes str.isdigit() but int() refuses it; "١٢" are digits of another script;
    # int() refuses more than 4,300 digits and PostgreSQL's bigint more than 18.
    _login(client, agent)
    assert client.get(reverse("assistant:chat"), {"customer": raw}).status_code == 404
    response = client.post(reverse("assistant:conversation_create"), {"customer": raw})
    assert response.status_code == 404
    assert not Conversation.objects.exists()


def test_no_javascript_ask_redirects_and_shows_the_answer(
    client: Client,
    agent: Any,
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    response = client.post(reverse("assistant:ask", args=[conversation.pk]), {"text": QUESTION})
    reply = conversation.messages.get(role=MessageRole.ASSISTANT)
    assert response.status_code == 302
    assert response.url == reverse("assistant:conversation", args=[conversation.pk]) + (
        f"#message-{reply.pk}"
    )
    html = _html(client.get(response.url))
    assert reply.content_html in html  # the sanitized answer, as stored
    assert 'class="citation"' in html
    assert "Extracted from the documents" in html  # the extractive answerer's label
    assert "Card fees" in html and "version 1" in html  # the sources list
    assert reverse("assistant:citation_preview", args=[reply.pk, 1]) in html
    assert "js/assistant-chat.js" in html
    assert QUESTION in html  # the title falls back to the first question


def test_question_html_is_escaped(
    client: Client,
    agent: Any,
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    text = "<script>alert('x')</script> card fee?"
    client.post(reverse("assistant:ask", args=[conversation.pk]), {"text": text})
    html = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    dashboard = _html(client.get(reverse("portal:dashboard")))
    assert "<script>alert" not in dashboard and "&lt;script&gt;" in dashboard


# Streaming -------------------------------------------------------------------------------


def test_streamed_answer_events_in_order(
    client: Client,
    agent: Any,
    server: FakeOpenAI,
    documents: dict[str, Any],
) -> None:
    server.chat_replies.append({"content": "The annual card fee is 5 euros [1]."})
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    response = client.post(
        reverse("assistant:ask", args=[conversation.pk]), {"text": QUESTION}, **SSE
    )
    assert response.status_code == 200
    assert response.streaming is True  # no middleware buffers it
    assert response["Content-Type"].startswith("text/event-stream")
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]  # personal: never cached
    assert response["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in response

    # The question is stored before the response starts; the answer only while it streams.
    stream = iter(response.streaming_content)
    first = next(stream).decode()
    assert first.startswith("event: question")
    assert not conversation.messages.filter(role=MessageRole.ASSISTANT).exists()
    events = _parse(first + b"".join(stream).decode())

    kinds = [kind for kind, _ in events]
    assert kinds[0] == "question" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) > 4
    question = Message.objects.get(pk=events[0][1]["message_id"])
    assert question.role == MessageRole.USER and question.content == QUESTION
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed == "The annual card fee is 5 euros [1]."
    done = events[-1][1]
    reply = Message.objects.get(pk=done["message_id"])
    assert reply.role == MessageRole.ASSISTANT and reply.content == streamed
    assert done["html"] == reply.content_html
    assert f'<a class="citation" href="/knowledge/documents/{documents["fees"].pk}/' in done["html"]
    assert done["citations"][0]["document_id"] == documents["fees"].pk
    assert done["model"] == "test-model" and done["error"] == ""
    assert done["fragment_url"] == reverse("assistant:message_fragment", args=[reply.pk])
    # The audit event of the answer keeps the request's id although it was written while
    # streaming, after the middleware had returned.
    event = AuditEvent.objects.get(action="assistant.answer")
    assert event.request_id and event.request_id == response["X-Request-ID"]


def test_an_answer_is_completed_when_the_reader_leaves(
    client: Client,
    agent: Any,
    server: FakeOpenAI,
    documents: dict[str, Any],
) -> None:
    server.chat_replies.append({"content": "The annual card fee is 5 euros [1]."})
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    response = client.post(
        reverse("assistant:ask", args=[conversation.pk]), {"text": QUESTION}, **SSE
    )
    # The test client's wrapper around the stream: closing it is what a server does when
    # the browser tab is closed (and it keeps the test's database connection open).
    stream = response._iterator
    assert next(stream).startswith(b"event: question")
    stream.close()
    reply = conversation.messages.get(role=MessageRole.ASSISTANT)
    assert reply.content == "The annual card fee is 5 euros [1]."
    event = AuditEvent.objects.get(action="assistant.answer")
    assert event.request_id == response["X-Request-ID"]


def test_streamed_tool_calls_and_cards(
    client: Client,
    agent: Any,
    server: FakeOpenAI,
    documents: dict[str, Any],
) -> None:
    server.chat_replies += [
        {"tool_calls": [{"name": "search_knowledge", "arguments": {"query": "replacement"}}]},
        {"content": "Replacement cards cost 10 euros [1]."},
    ]
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    response = client.post(
        reverse("assistant:ask", args=[conversation.pk]), {"text": "replacement card?"}, **SSE
    )
    events = _events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "question" and kinds[-1] == "done"
    tool = next(data for kind, data in events if kind == "tool")
    assert tool["name"] == "search_knowledge" and tool["ok"] is True
    assert "searched" in tool["summary"]
    assert kinds.index("tool") < max(i for i, k in enumerate(kinds) if k == "delta")
    reply = Message.objects.get(pk=events[-1][1]["message_id"])
    fragment = _html(client.get(events[-1][1]["fragment_url"], **FRAGMENT))
    assert fragment.lstrip().startswith("<article")
    assert f'id="message-{reply.pk}"' in fragment
    assert 'data-tool="search_knowledge"' in fragment and tool["summary"] in fragment
    assert "data-feedback-form" in fragment


def test_model_failure_shows_an_alert_and_keeps_the_question(
    client: Client,
    agent: Any,
    server: FakeOpenAI,
    documents: dict[str, Any],
) -> None:
    server.fail_next = 1
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    events = _events(
        client.post(reverse("assistant:ask", args=[conversation.pk]), {"text": QUESTION}, **SSE)
    )
    done = events[-1][1]
    assert done["error"]
    html = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))
    assert "data-answer-error" in html and "alert-danger" in html
    assert "data-retry-form" in html and f'name="text" value="{QUESTION}"' in html


def test_empty_question_is_400_json(client: Client, agent: Any, no_llm: None) -> None:
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    response = client.post(reverse("assistant:ask", args=[conversation.pk]), {"text": "  "}, **SSE)
    assert response.status_code == 400
    assert response.json() == {"message": "Enter a question."}
    # Without JavaScript: the page again, with the message next to the box.
    response = client.post(reverse("assistant:ask", args=[conversation.pk]), {"text": ""})
    assert response.status_code == 400
    assert "Enter a question." in _html(response)
    assert not Message.objects.exists()


def test_rate_limit_is_429_and_the_refused_question_is_not_stored(
    client: Client,
    agent: Any,
    no_llm: None,
    documents: dict[str, Any],
    settings: Any,
) -> None:
    settings.ASSISTANT_RATE_LIMIT_PER_MINUTE = 1
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    url = reverse("assistant:ask", args=[conversation.pk])
    assert client.post(url, {"text": QUESTION}).status_code == 302
    response = client.post(url, {"text": "And a second question?"}, **SSE)
    assert response.status_code == 429
    body = response.json()
    assert "your question was not sent" in body["message"]
    assert 1 <= body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])
    # Without JavaScript: the page again, the typed text kept in the box.
    response = client.post(url, {"text": "And a second question?"})
    assert response.status_code == 429
    assert ">And a second question?</textarea>" in _html(response)
    asked = conversation.messages.filter(role=MessageRole.USER).values_list("content", flat=True)
    assert list(asked) == [QUESTION]


# Sources ---------------------------------------------------------------------------------


def test_citation_preview_of_a_readable_chunk(
    client: Client,
    agent: Any,
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    conversation = conversation_create(owner=agent)
    reply = answer(user=agent, conversation=conversation, text=QUESTION)
    _login(client, agent)
    url = reverse("assistant:citation_preview", args=[reply.pk, 1])
    fragment = _html(client.get(url, **FRAGMENT))
    assert PRODUCTS_CANARY in fragment and "Card fees" in fragment and "version 1" in fragment
    assert f'href="/knowledge/documents/{documents["fees"].pk}/#chunk-' in fragment
    assert "<html" not in fragment
    page = _html(client.get(url))
    assert "<html" in page and PRODUCTS_CANARY in page and "Back to the conversation" in page
    assert client.get(reverse("assistant:citation_preview", args=[reply.pk, 9])).status_code == 404


def _cited(conversation: Conversation, citations: list[dict[str, Any]]) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        content="See [1].",
        content_html='<p>See <a class="citation" href="/x/">[1]</a>.</p>',
        citations=citations,
        model_name="extractive",
    )


def test_citation_preview_of_an_unreadable_collection_is_404(
    client: Client,
    handed_off: Conversation,
    role_users: dict[str, Any],  # noqa: F811
    documents: dict[str, Any],
) -> None:
    aml = documents["aml"]
    chunk = aml.chunks.first()
    message = _cited(
        handed_off,
        [
            {
                "n": 1,
                "type": "chunk",
                "chunk_id": chunk.pk,
                "document_id": aml.pk,
                "version": 1,
                "page": None,
                "title": aml.title,
            }
        ],
    )
    readable = handed_off.messages.filter(role=MessageRole.ASSISTANT).first()
    url = reverse("assistant:citation_preview", args=[message.pk, 1])
    for role in ("supervisor", "agent"):
        _login(client, role_users[role])
        assert client.get(url, **FRAGMENT).status_code == 404, role
        assert client.get(url).status_code == 404, role
        ok = client.get(reverse("assistant:citation_preview", args=[readable.pk, 1]), **FRAGMENT)
        assert ok.status_code == 200 and PRODUCTS_CANARY in _html(ok), role
        page = _html(client.get(reverse("assistant:conversation", args=[handed_off.pk])))
        assert "quokka" not in page, role
        if role == "agent":  # the asker: listed as when it was answered, without a link
            assert "(not available to you)" in page and aml.title in page
        else:  # another reader: a citation they may not open is not listed at all
            assert "(not available to you)" not in page and aml.title not in page
    _login(client, role_users["compliance"])  # may read it, but not this conversation
    assert client.get(url).status_code == 404


def test_citation_preview_of_a_replaced_chunk(
    client: Client,
    agent: Any,
    documents: dict[str, Any],
) -> None:
    fees = documents["fees"]
    conversation = conversation_create(owner=agent)
    message = _cited(
        conversation,
        [
            {
                "n": 1,
                "type": "chunk",
                "chunk_id": 987654321,  # gone: the document was ingested again since
                "document_id": fees.pk,
                "version": 1,
                "page": None,
                "title": fees.title,
            }
        ],
    )
    _login(client, agent)
    html = _html(
        client.get(reverse("assistant:citation_preview", args=[message.pk, 1]), **FRAGMENT)
    )
    assert "was replaced" in html
    assert f'href="{reverse("knowledge:document_detail", args=[fees.pk])}"' in html


def test_citation_preview_of_a_customer(
    client: Client, agent: Any, customers: dict[str, Customer]
) -> None:
    north, south = customers["north"], customers["south"]
    conversation = conversation_create(owner=agent)
    message = _cited(
        conversation,
        [
            {"n": 1, "type": "customer", "customer_id": north.pk, "title": north.full_name},
            {"n": 2, "type": "customer", "customer_id": south.pk, "title": south.full_name},
        ],
    )
    _login(client, agent)
    html = _html(
        client.get(reverse("assistant:citation_preview", args=[message.pk, 1]), **FRAGMENT)
    )
    assert north.customer_number in html
    assert f'href="{reverse("customers:detail", args=[north.pk])}"' in html
    assert (
        client.get(reverse("assistant:citation_preview", args=[message.pk, 2])).status_code == 404
    )
    page = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))
    assert f'href="{reverse("customers:detail", args=[south.pk])}"' not in page
    assert south.full_name not in page


# Cards -----------------------------------------------------------------------------------


def test_prefill_customer_and_notice_cards(
    client: Client,
    agent: Any,
    no_llm: None,
    customers: dict[str, Customer],
    forms: None,
    collections: dict[str, Any],  # noqa: F811
) -> None:
    north = customers["north"]
    account = north.accounts.exclude(card_last4="").filter(transactions__isnull=False).first()
    txn = account.transactions.order_by("-posted_date").first()
    conversation = conversation_create(owner=agent)
    _login(client, agent)
    url = reverse("assistant:ask", args=[conversation.pk])
    command = (
        f"/prefill card-dispute {north.customer_number} account={account.pk} transaction={txn.pk}"
    )
    client.post(url, {"text": command})
    client.post(url, {"text": f"/customer {north.customer_number}"})
    client.post(url, {"text": "/search fees in compliance-aml"})
    html = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))

    card = next(c for m in conversation.messages.all() for c in m.cards if c["type"] == "prefill")
    assert 'data-card="prefill"' in html
    assert "Review and submit the draft" in html
    assert f'href="{reverse("forms_app:submission_detail", args=[card["submission_id"]])}"' in html
    assert "Customer name" in html  # field labels, not keys
    assert "Not submitted" in html
    assert 'data-card="customer"' in html
    assert f'href="{reverse("customers:detail", args=[north.pk])}"' in html
    assert 'data-card="notice"' in html and "alert-warning" in html
    assert 'data-tool="prefill_form"' in html


# Feedback --------------------------------------------------------------------------------


def test_feedback_is_stored_and_changed(
    client: Client,
    agent: Any,
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    conversation = conversation_create(owner=agent)
    reply = answer(user=agent, conversation=conversation, text=QUESTION)
    question = conversation.messages.get(role=MessageRole.USER)
    _login(client, agent)
    url = reverse("assistant:feedback", args=[reply.pk])

    response = client.post(url, {"helpful": "1"})
    assert response.status_code == 302 and response.url.endswith(f"#message-{reply.pk}")
    assert Feedback.objects.get().helpful is True

    response = client.post(url, {"helpful": "0", "comment": "Missing the student rate"}, **FRAGMENT)
    fragment = _html(response)
    feedback = Feedback.objects.get()
    assert feedback.helpful is False and feedback.comment == "Missing the student rate"
    assert fragment.lstrip().startswith("<article")
    assert 'data-feedback-current="not-helpful"' in fragment
    assert re.search(r'data-feedback="not-helpful"[^>]*aria-pressed="true"', fragment)
    assert "Missing the student rate</textarea>" in fragment

    page = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))
    assert "You marked this answer not helpful." in page
    assert client.post(url, {"helpful": "maybe"}).status_code == 400
    # Only answers take feedback.
    response = client.post(reverse("assistant:feedback", args=[question.pk]), {"helpful": "1"})
    assert response.status_code == 403
    assert Feedback.objects.count() == 1


# Hand-offs -------------------------------------------------------------------------------


def test_escalate_creates_a_handoff_in_the_supervisor_queue(
    client: Client,
    role_users: dict[str, Any],  # noqa: F811
    no_llm: None,
    documents: dict[str, Any],
) -> None:
    agent_user = role_users["agent"]
    conversation = conversation_create(owner=agent_user, title="Refund")
    answer(user=agent_user, conversation=conversation, text=QUESTION)
    _login(client, agent_user)
    page = _html(client.get(reverse("assistant:conversation", args=[conversation.pk])))
    assert "Escalate to a supervisor" in page
    url = reverse("assistant:escalate", args=[conversation.pk])

    response = client.post(url, {"reason": "   "})
    assert response.status_code == 400
    assert "Say why this needs a person." in _html(response)
    assert not Handoff.objects.exists()

    response = client.post(url, {"reason": "Customer disputes the fee"})
    assert response.status_code == 302
    handoff = Handoff.objects.get()
    assert handoff.reason == "Customer disputes the fee" and handoff.region.code == "north"
    page = _html(client.get(response.url))
    assert "Handed off to a supervisor of North branch" in page
    assert f'data-handoff="{handoff.pk}"' in page and 'data-handoff-status="open"' in page
    assert "data-escalate-form" not in page  # one open hand-off at a time
    assert client.post(url, {"reason": "again"}).status_code == 302
    assert Handoff.objects.count() == 1

    _login(client, role_users["supervisor"])
    queue = _html(client.get(reverse("assistant:handoff_queue")))
    assert f'data-handoff="{handoff.pk}"' in queue
    assert "Customer disputes the fee" in queue and "agent" in queue
    assert reverse("assistant:conversation", args=[conversation.pk]) in queue


def test_supervisor_reads_a_handed_off_conversation_read_only(
    client: Client,
    handed_off: Conversation,
    role_users: dict[str, Any],  # noqa: F811
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    reply = handed_off.messages.get(role=MessageRole.ASSISTANT)
    _login(client, role_users["supervisor"])
    response = client.get(reverse("assistant:conversation", args=[handed_off.pk]))
    html = _html(response)
    assert response.status_code == 200
    assert "data-read-only" in html and "belongs to agent" in html
    assert reply.content_html in html
    assert "data-ask-form" not in html
    assert "data-feedback-form" not in html
    assert "data-escalate-form" not in html
    assert "Customer wants a refund" in html and "data-assign" in html  # acts on the hand-off
    assert client.get(reverse("assistant:message_fragment", args=[reply.pk])).status_code == 200
    assert re.search(r'class="nav-link active" href="/assistant/handoffs/"', html)

    pk = handed_off.pk
    assert client.post(reverse("assistant:ask", args=[pk]), {"text": "hi"}).status_code == 403
    response = client.post(reverse("assistant:ask", args=[pk]), {"text": "hi"}, **SSE)
    assert response.status_code == 403 and response.json()["message"]
    response = client.post(reverse("assistant:feedback", args=[reply.pk]), {"helpful": "1"})
    assert response.status_code == 403
    response = client.post(reverse("assistant:escalate", args=[pk]), {"reason": "mine"})
    assert response.status_code == 403
    assert handed_off.messages.count() == 2 and not Feedback.objects.exists()

    south = make_user("south-supervisor", Role.SUPERVISOR, regions=[regions["south"]])
    _login(client, south)
    assert client.get(reverse("assistant:conversation", args=[pk])).status_code == 404
    assert client.get(reverse("assistant:message_fragment", args=[reply.pk])).status_code == 404
    assert 'data-handoff="' not in _html(client.get(reverse("assistant:handoff_queue")))


def test_assign_and_resolve(
    client: Client,
    handed_off: Conversation,
    role_users: dict[str, Any],  # noqa: F811
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    handoff = Handoff.objects.get()
    supervisor = role_users["supervisor"]
    queue_url = reverse("assistant:handoff_queue")

    south = make_user("south-supervisor", Role.SUPERVISOR, regions=[regions["south"]])
    _login(client, south)
    assert client.post(reverse("assistant:handoff_assign", args=[handoff.pk])).status_code == 404
    response = client.post(reverse("assistant:handoff_resolve", args=[handoff.pk]), {"notes": "x"})
    assert response.status_code == 404

    _login(client, supervisor)
    response = client.post(reverse("assistant:handoff_assign", args=[handoff.pk]))
    assert response.status_code == 302 and response.url == queue_url
    handoff.refresh_from_db()
    assert handoff.status == "assigned" and handoff.assignee == supervisor

    response = client.post(
        reverse("assistant:handoff_resolve", args=[handoff.pk]), {"notes": " "}, follow=True
    )
    assert "Write what was done before resolving." in _html(response)
    handoff.refresh_from_db()
    assert handoff.status == "assigned"

    conversation_url = reverse("assistant:conversation", args=[handed_off.pk])
    response = client.post(
        reverse("assistant:handoff_resolve", args=[handoff.pk]),
        {"notes": "Refunded the fee", "next": conversation_url},
    )
    assert response.status_code == 302 and response.url == conversation_url
    handoff.refresh_from_db()
    assert handoff.status == "resolved" and handoff.notes == "Refunded the fee"
    response = client.post(
        reverse("assistant:handoff_assign", args=[handoff.pk]),
        {"next": "https://evil.example/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == queue_url  # never an open redirect
    assert "resolved" in _html(response)

    assert f'data-handoff="{handoff.pk}"' not in _html(client.get(queue_url))
    resolved = _html(client.get(queue_url, {"resolved": "1"}))
    assert f'data-handoff="{handoff.pk}"' in resolved and "Refunded the fee" in resolved
    # The owner sees the outcome on the conversation.
    _login(client, role_users["agent"])
    page = _html(client.get(conversation_url))
    assert 'data-handoff-status="resolved"' in page and "Refunded the fee" in page
    assert "data-escalate-form" in page  # may hand it off again


# Navigation and dashboard ----------------------------------------------------------------


def _nav_labels(html: str) -> list[str]:
    return re.findall(r'class="nav-link[^"]*" href="[^"]*"[^>]*>([^<]+)<', html)


def test_navigation_and_dashboard_per_role(
    client: Client,
    handed_off: Conversation,
    role_users: dict[str, Any],  # noqa: F811
) -> None:
    _login(client, role_users["agent"])
    html = _html(client.get(reverse("portal:dashboard")))
    labels = _nav_labels(html)
    assert "Assistant" in labels and "Hand-offs" not in labels
    assert "data-dashboard-conversations" in html and "Fee question" in html
    assert reverse("assistant:conversation", args=[handed_off.pk]) in html
    assert "data-dashboard-handoffs" not in html
    chat = _html(client.get(reverse("assistant:chat")))
    assert re.search(r'class="nav-link active" href="/assistant/" aria-current="page"', chat)

    _login(client, role_users["supervisor"])
    html = _html(client.get(reverse("portal:dashboard")))
    labels = _nav_labels(html)
    assert "Assistant" in labels and "Hand-offs" in labels
    assert 'data-open-handoffs-count="1"' in html
    assert "Customer wants a refund" in html
    assert "Fee question" not in html.split("data-dashboard-handoffs")[0]
    queue = _html(client.get(reverse("assistant:handoff_queue")))
    assert re.search(r'class="nav-link active" href="/assistant/handoffs/"', queue)
    assert not re.search(r'class="nav-link active" href="/assistant/"', queue)

    _login(client, role_users["content_manager"])
    html = _html(client.get(reverse("portal:dashboard")))
    assert "Assistant" in _nav_labels(html) and "Hand-offs" not in _nav_labels(html)
    assert "data-dashboard-handoffs" not in html
