"""Who reads a handed-off conversation sees it as *they* may (pen-test finding): a hand-off
without a region is the central queue, never every regional supervisor's; answers drawing on
sources the reader may not read are hidden; customers show masked for the reader. Checked on
the page, the message fragment and the API alike, with canary strings absent from every
body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from assistant.answering import answer
from assistant.models import Conversation, Handoff, Message, MessageRole
from assistant.presenters import REDACTED_NOTE
from assistant.services import conversation_create, handoff_assign, handoff_create
from knowledge.customers.masking import mask_date_of_birth, mask_tax_id
from portal.permissions import Role
from tests.knowledge.conftest import add_document, collections  # noqa: F401
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db

TEXT_CANARY = "wombatthresholdcanary"
TITLE_CANARY = "pangolintitlecanary"
AML_PLAYBOOK = (
    f"# Suspicious activity\n\nThe suspicious activity threshold is {TEXT_CANARY} euros per week.\n"
)


@pytest.fixture
def people(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    north = regions["north"]
    return {
        "compliance": make_user("r_comp", Role.COMPLIANCE),  # sees all regions, serves none
        "compliance_north": make_user("r_comp_n", Role.COMPLIANCE, regions=[north]),
        "north_supervisor": make_user("r_sup_n", Role.SUPERVISOR, regions=[north]),
        # A supervisor who also sees every region: works every queue, the central one too.
        "central_supervisor": make_user("r_sup_all", Role.SUPERVISOR, Role.COMPLIANCE),
        # A head-office supervisor (no region): works the central queue only.
        "hq_supervisor": make_user("r_sup_hq", Role.SUPERVISOR),
    }


def _as(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def _bodies(client: Client, conversation: Conversation) -> dict[str, Any]:
    """What a reader gets of ``conversation``: the page, each answer's fragment, the API."""
    page = client.get(reverse("assistant:conversation", args=[conversation.pk]))
    answers = conversation.messages.filter(role=MessageRole.ASSISTANT).order_by("id")
    fragments = [
        client.get(reverse("assistant:message_fragment", args=[m.pk]), HTTP_X_FRAGMENT="1")
        for m in answers
    ]
    api = client.get(f"/api/v1/conversations/{conversation.pk}/")
    return {"page": page, "fragments": fragments, "api": api}


def _texts(bodies: dict[str, Any]) -> list[str]:
    responses = [bodies["page"], *bodies["fragments"], bodies["api"]]
    return [r.content.decode() for r in responses]


def test_a_handoff_without_a_region_is_the_central_queue_not_every_supervisors(
    client: Client, bank: dict[str, Any], people: dict[str, Any], without_llm: None
) -> None:
    south = bank["south"][0]
    compliance = people["compliance"]
    conversation = conversation_create(owner=compliance, title="A question")
    answer(user=compliance, conversation=conversation, text=f"/customer {south.customer_number}")
    answer(user=compliance, conversation=conversation, text="/escalate Please look at this one")
    handoff = Handoff.objects.get()
    assert handoff.region is None and handoff.customer is None  # no customer in focus

    # A north supervisor: the hand-off is not theirs, nor the conversation (404 everywhere).
    _as(client, people["north_supervisor"])
    bodies = _bodies(client, conversation)
    assert bodies["page"].status_code == 404
    assert all(f.status_code == 404 for f in bodies["fragments"])
    assert bodies["api"].status_code == 404
    queue = client.get(reverse("assistant:handoff_queue"))
    listed = client.get("/api/v1/handoffs/")
    assert listed.json()["count"] == 0
    for text in [*_texts(bodies), queue.content.decode(), listed.content.decode()]:
        assert south.full_name not in text and south.customer_number not in text
    assert f'data-handoff="{handoff.pk}"' not in queue.content.decode()
    assert client.post(reverse("assistant:handoff_assign", args=[handoff.pk])).status_code == 404
    with pytest.raises(Handoff.DoesNotExist):
        handoff_assign(actor=people["north_supervisor"], handoff=handoff)

    # A supervisor who sees every region works the central queue.
    _as(client, people["central_supervisor"])
    queue = client.get(reverse("assistant:handoff_queue")).content.decode()
    assert f'data-handoff="{handoff.pk}"' in queue and "Central queue" in queue
    page = client.get(reverse("assistant:conversation", args=[conversation.pk]))
    assert page.status_code == 200 and "data-read-only" in page.content.decode()
    assert handoff_assign(actor=people["central_supervisor"], handoff=handoff).status == "assigned"

    # A supervisor without a region (head office) works the central queue, and only that.
    _as(client, people["hq_supervisor"])
    queue = client.get(reverse("assistant:handoff_queue")).content.decode()
    assert f'data-handoff="{handoff.pk}"' in queue
    assert [h["id"] for h in client.get("/api/v1/handoffs/").json()["results"]] == [handoff.pk]
    north_question = conversation_create(owner=people["compliance_north"], title="North")
    answer(user=people["compliance_north"], conversation=north_question, text="/escalate Look")
    regional = Handoff.objects.exclude(pk=handoff.pk).get()
    assert regional.region is not None
    assert (
        f'data-handoff="{regional.pk}"'
        not in client.get(reverse("assistant:handoff_queue")).content.decode()
    )
    assert (
        client.get(reverse("assistant:conversation", args=[north_question.pk])).status_code == 404
    )

    # The asker is told where it went.
    _as(client, compliance)
    page = client.get(reverse("assistant:conversation", args=[conversation.pk])).content.decode()
    assert "Central queue" in page


def test_answers_drawing_on_a_collection_the_reader_may_not_read_are_hidden(
    client: Client,
    people: dict[str, Any],
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
    without_llm: None,
) -> None:
    add_document(collections["compliance-aml"], f"AML playbook {TITLE_CANARY}", AML_PLAYBOOK)
    asker = people["compliance_north"]  # a region of their own: the hand-off goes north
    conversation = conversation_create(owner=asker, title="Thresholds")
    reply = answer(
        user=asker, conversation=conversation, text="What is the suspicious activity threshold?"
    )
    assert TEXT_CANARY in reply.content and reply.citations  # the asker's answer quotes it
    handoff = handoff_create(actor=asker, conversation=conversation, reason="Please check")
    assert handoff.region is not None and handoff.region.code == "north"

    _as(client, people["north_supervisor"])
    bodies = _bodies(client, conversation)
    assert bodies["page"].status_code == 200 and bodies["api"].status_code == 200
    assert all(f.status_code == 200 for f in bodies["fragments"])
    for text in _texts(bodies):
        assert TEXT_CANARY not in text and TITLE_CANARY not in text
    for response in (bodies["page"], *bodies["fragments"]):
        html = response.content.decode()
        assert REDACTED_NOTE in html and "data-redacted" in html
        assert "data-citation=" not in html  # no citation listed
    shown = [m for m in bodies["api"].json()["messages"] if m["role"] == "assistant"]
    assert shown and all(m["redacted"] for m in shown)
    assert all(m["citations"] == [] and m["tool_calls"] == [] for m in shown)
    assert shown[0]["content"] == REDACTED_NOTE
    # The source behind a citation of a hidden answer: like a missing one.
    number = reply.citations[0]["n"]
    preview = client.get(reverse("assistant:citation_preview", args=[reply.pk, number]))
    assert preview.status_code == 404

    # The asker sees their own conversation as it was answered.
    _as(client, asker)
    bodies = _bodies(client, conversation)
    assert all(TEXT_CANARY in text for text in _texts(bodies))
    assert REDACTED_NOTE not in bodies["page"].content.decode()
    assert bodies["api"].json()["messages"][1]["redacted"] is False


def test_customers_show_masked_for_the_reader(
    client: Client, bank: dict[str, Any], people: dict[str, Any], llm_server: FakeOpenAI
) -> None:
    customer = bank["north"][0]
    tax_id, born = customer.tax_id, customer.date_of_birth
    assert tax_id and mask_tax_id(tax_id) != tax_id
    compliance = people["compliance"]  # sees tax ids and dates of birth in full
    conversation = conversation_create(owner=compliance, customer=customer.pk)
    answer(user=compliance, conversation=conversation, text=f"/customer {customer.customer_number}")
    llm_server.chat_replies.append({"content": f"The tax id is {tax_id}, born {born} [1]."})
    reply = answer(user=compliance, conversation=conversation, text="What is the tax id?")
    assert tax_id in reply.content and [c["n"] for c in reply.citations] == [1]
    handoff_create(actor=compliance, conversation=conversation, reason="Identity check")

    # A north supervisor (masked tax id and date of birth): never the full values.
    _as(client, people["north_supervisor"])
    bodies = _bodies(client, conversation)
    assert bodies["page"].status_code == 200
    for text in _texts(bodies):
        assert tax_id not in text and born not in text
    page = bodies["page"].content.decode()
    assert f"data-card-tax-id>{mask_tax_id(tax_id)}<" in page
    assert f"data-card-date-of-birth>{mask_date_of_birth(born)}<" in page
    assert REDACTED_NOTE in page  # the answers drew on the record as compliance saw it
    messages = bodies["api"].json()["messages"]
    card = messages[1]["cards"][0]
    assert card["tax_id"] == mask_tax_id(tax_id) and card["customer_number"]
    assert all(m["redacted"] for m in messages if m["role"] == "assistant")

    # The asker: the full values, in the answer and on the card.
    _as(client, compliance)
    bodies = _bodies(client, conversation)
    page = bodies["page"].content.decode()
    assert f"data-card-tax-id>{tax_id}<" in page and f"data-card-date-of-birth>{born}<" in page
    card = bodies["api"].json()["messages"][1]["cards"][0]
    assert card["visible"] and card["tax_id"] == tax_id and card["date_of_birth"] == born


def test_a_reader_who_may_read_every_source_sees_the_answer(
    client: Client,
    people: dict[str, Any],
    make_user: Any,
    regions: dict[str, Any],
    collections: dict[str, Any],  # noqa: F811
    add_document: Any,  # noqa: F811
    without_llm: None,
) -> None:
    add_document(collections["products-fees"], "Card fees", "The annual card fee is 5 euros.")
    agent = make_user("r_agent", Role.AGENT, regions=[regions["north"]])
    conversation = conversation_create(owner=agent)
    reply = answer(user=agent, conversation=conversation, text="What is the annual card fee?")
    handoff_create(actor=agent, conversation=conversation, reason="Refund")
    assert reply.source_collection_ids == [collections["products-fees"].pk]

    _as(client, people["north_supervisor"])
    bodies = _bodies(client, conversation)
    assert reply.content_html in bodies["page"].content.decode()
    shown = bodies["api"].json()["messages"][1]
    assert shown["redacted"] is False and shown["citations"] == reply.citations
    assert json.dumps(shown["content"]) == json.dumps(reply.content)
    # A message stored before the collections were noted: checked by its passages now.
    Message.objects.filter(pk=reply.pk).update(source_collection_ids=[])
    assert (
        client.get(f"/api/v1/conversations/{conversation.pk}/").json()["messages"][1]["redacted"]
        is False
    )
