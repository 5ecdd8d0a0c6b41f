"""The secure message center's API: staff (their regions' threads, replies with drafts and
forms, notes, assignment) and customers (their own threads, under /secure/api/v1/)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from assistant.messaging.models import Draft, SecureMessage, Thread
from assistant.messaging.services.drafting import draft_write
from assistant.messaging.services.threads import note_add, thread_start
from tests.assistant.messaging.conftest import token_client

pytestmark = pytest.mark.django_db


_api = token_client


def _thread(customer_user: Any) -> Thread:
    return thread_start(
        user=customer_user,
        subject="Unknown charge",
        category="card_dispute",
        body="How do I dispute a card payment I do not recognise?",
    )


def test_staff_list_and_read_their_regions_threads(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _thread(customer_user)
    note_add(user=staff["agent"], thread=thread, body="internal kiwinote")
    listed = _api(staff["agent"]).get("/api/v1/threads/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [thread.pk]
    assert listed.json()["results"][0]["unread"] == 1
    detail = _api(staff["agent"]).get(f"/api/v1/threads/{thread.pk}/").json()
    assert [m["internal"] for m in detail["messages"]] == [False, True]
    assert _api(staff["south_agent"]).get(f"/api/v1/threads/{thread.pk}/").status_code == 404
    assert _api(staff["south_agent"]).get("/api/v1/threads/").json()["results"] == []
    assert _api(staff["content"]).get("/api/v1/threads/").status_code == 403
    assert _api(staff["agent"]).get("/api/v1/threads/?status=bogus").status_code == 400


def test_staff_reply_with_the_draft_through_the_api(
    customer_user: Any, staff: dict[str, Any], policies: dict[str, Any], without_llm: None
) -> None:
    thread = _thread(customer_user)
    draft = draft_write(Draft.objects.get(thread=thread).pk)
    assert draft is not None
    client = _api(staff["agent"])
    south = _api(staff["south_agent"])
    refused = south.post(
        f"/api/v1/threads/{thread.pk}/reply/", {"body": "x", "draft": draft.pk}, format="json"
    )
    assert refused.status_code == 404
    other_draft = client.post(
        f"/api/v1/threads/{thread.pk}/reply/", {"body": "x", "draft": 987654}, format="json"
    )
    assert other_draft.status_code == 400
    sent = client.post(
        f"/api/v1/threads/{thread.pk}/reply/",
        {"body": draft.body + "\nRegards", "draft": draft.pk},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["approved_by"] == staff["agent"].username
    empty = client.post(f"/api/v1/threads/{thread.pk}/reply/", {"body": ""}, format="json")
    assert empty.status_code == 400
    read_only = _api(staff["agent"], ["read"]).post(
        f"/api/v1/threads/{thread.pk}/notes/", {"body": "a note"}, format="json"
    )
    assert read_only.status_code == 403
    assign = client.post(
        f"/api/v1/threads/{thread.pk}/assign/", {"assignee": "south-agent"}, format="json"
    )
    assert assign.status_code == 400
    assign = client.post(
        f"/api/v1/threads/{thread.pk}/assign/", {"assignee": "north-agent"}, format="json"
    )
    assert assign.status_code == 200 and assign.json()["assignee"] == "north-agent"


def test_customers_use_their_own_api_only(
    customer_user: Any, other_customer_user: Any, staff: dict[str, Any]
) -> None:
    theirs = _thread(other_customer_user)
    client = Client()
    client.force_login(customer_user)
    started = client.post(
        "/secure/api/v1/threads/",
        {"subject": "Address", "category": "address_change", "body": "I moved."},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    mine = started.json()["id"]
    listed = client.get("/secure/api/v1/threads/").json()["results"]
    assert [row["id"] for row in listed] == [mine]
    assert client.get(f"/secure/api/v1/threads/{theirs.pk}/").status_code == 404
    posted = client.post(
        f"/secure/api/v1/threads/{theirs.pk}/messages/",
        {"body": "sneaky"},
        content_type="application/json",
    )
    assert posted.status_code == 404
    assert SecureMessage.objects.filter(thread=theirs).count() == 1
    note_add(user=staff["agent"], thread=Thread.objects.get(pk=mine), body="secret otternote")
    detail = client.get(f"/secure/api/v1/threads/{mine}/").content.decode()
    assert "otternote" not in detail
    # Staff find no customer API, customers no staff API.
    staff_client = Client()
    staff_client.force_login(staff["agent"])
    assert staff_client.get("/secure/api/v1/threads/").status_code == 404
    assert client.get("/api/v1/threads/").status_code == 404
