"""The leak matrix: every canary reaches exactly the users the policy allows, on every path.

A security review asked us to *prove* that personal and restricted data stays where the
policy puts it. This module seeds one unique canary into every place such data lives, then
walks every path a user has to data, as every role, and looks for the canaries in what comes
back:

* **canaries**: a document whose text holds ``CANARY-COL-<slug>`` in every collection (ingested
  for real), and an archived one holding ``CANARY-ARC-products-fees`` (for the collection's
  managers only); a customer per region whose name, number, email, address, transactions and case
  hold ``CANARY-CUS-<region>``; the tax id, date of birth and account number of each customer,
  in full and in their masked forms (``***-**-1234``, ``1984-**-**``, ``•••• 1234``); a
  conversation per role that may ask (``CANARY-CONV-<owner>`` in the question), hand-offs
  (``CANARY-HOF-<owner>`` in the reason), feedback comments (``CANARY-FBK-<owner>``) and
  submissions (``CANARY-SUB-<owner>-<what>`` in the values and in an attached file); a
  secure thread per region's customer (``CANARY-THR-<region>`` in its subject and the
  customer's message, ``CANARY-RPL-<region>`` in the bank's reply, ``CANARY-NOTE-<region>``
  in an internal note, ``CANARY-RET-<region>`` in a reply withdrawn before it was read; each
  also in a file sent with its message) with the assistant's draft (from the
  customer-facing collection only).
* **customers**: a customer account per region, linked to that region's canary customer:
  confined to /secure/ (everything else 404), they must reach their own thread, reply and
  records (account number masked) and nothing else, staff never their pages.
* **paths**: every URL of the resolver (portal pages, the API under ``/api/v1/``, the Django
  admin with every row of every registered model), with every path parameter filled with
  every seeded object of its kind (plus a missing one, for the 404 bodies); POST-only routes
  are POST-probed with an empty body; the audit trail, every page; every search (knowledge
  search page and API, customer search page and API, the form's customer search, admin
  changelist searches, admin autocomplete) for every canary; and the assistant, asked about
  every canary through the API with a fake model that calls the tools and then echoes every
  canary it was given: the recorded prompt, the answer, its citations and their previews.
* **policy**: who may see a canary is derived from the policy functions
  (``portal.permissions.can`` / ``field_visibility`` / ``region_filter``,
  ``knowledge.permissions.collections_visible_to``, ``assistant.permissions``,
  ``forms_app.permissions``), never from what the pages return. A response carrying a canary
  its user may not see is a leak; a user the policy expects to reach a canary (its owner, a
  reader of the collection, an agent of the region ...) who never sees it anywhere fails the
  test too, so the walk cannot pass by finding nothing.

To make the Django admin part of the attack surface, every user is staff and holds a
non-role group with the ``view`` permission of every registered model: docs/roles.md says
model permissions only open the admin's pages and the policy decides the rows, so this grant
must not widen what anyone reads.

Search and assistant probes send the canary with its letter case swapped (searches are
case-insensitive): the echo of the query is then removed exactly (case-sensitively) before
scanning, and only data can still carry the canary.

Run it alone (it prints ``leaks=0 paths=<n> checks=<m>``)::

    .venv/bin/python -m pytest tests/security -q -s
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from assistant.answering import answer
from assistant.messaging.models import Draft, MessageAttachment, SecureMessage, Thread
from assistant.messaging.permissions import handles_threads, threads_visible_to
from assistant.messaging.services.drafting import draft_write
from assistant.messaging.services.threads import (
    message_retract,
    note_add,
    staff_reply_send,
    thread_start,
)
from assistant.models import Conversation, Feedback, Handoff, Message
from assistant.permissions import conversations_visible_to, handoffs_visible_to
from assistant.services import conversation_create, feedback_record, handoff_create
from forms_app.demo import seed_forms
from forms_app.models import FormDefinition, FormSubmission, SubmissionAttachment
from forms_app.permissions import submissions_in_admin, submissions_visible_to
from forms_app.selectors import definition_get
from forms_app.services import (
    prefill,
    submission_attach_file,
    submission_create_draft,
    submission_submit,
)
from forms_app.workflow import TRANSITIONS
from knowledge.customers.masking import mask_account_number, mask_date_of_birth, mask_tax_id
from knowledge.customers.models import Account, Case, Customer, CustomerLogin, Transaction
from knowledge.demo import STAFF, seed_collections
from knowledge.embeddings import get_backend
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Collection, Document
from knowledge.permissions import collections_managed_by, collections_visible_to
from knowledge.services import (
    collection_create,
    document_archive,
    document_create,
    golden_question_save,
)
from portal.models import (
    TOKEN_SCOPES,
    AccessReview,
    AuditEvent,
    ErasureCertificate,
    LegalHold,
    RecordExport,
    Region,
    UserSession,
)
from portal.permissions import (
    ROLE_ACTIONS,
    Action,
    Role,
    can,
    field_visibility,
    is_customer,
    region_filter,
)
from portal.services import api_token_create, region_ensure, user_ensure
from tests.assistant.conftest import chat_requests
from tests.knowledge.customers.conftest import make_customer
from tests.support.openai_server import FakeOpenAI, fake_openai_server

# The marker makes pytest-django create the test database; the module's fixture below holds
# its own transaction around all the seeding and probing, and rolls it back.
pytestmark = pytest.mark.django_db

# --- who walks ---------------------------------------------------------------------------

# key (also the username) -> roles, region codes, superuser. Every role of the policy must
# appear (checked by the test): a new role cannot be forgotten.
ROLE_USERS: dict[str, tuple[tuple[Role, ...], tuple[str, ...], bool]] = {
    "agent_north": ((Role.AGENT,), ("north",), False),
    "agent_south": ((Role.AGENT,), ("south",), False),
    "supervisor_north": ((Role.SUPERVISOR,), ("north",), False),
    "compliance": ((Role.COMPLIANCE,), (), False),
    "content_manager": ((Role.CONTENT_MANAGER,), (), False),
    "admin": ((Role.ADMIN,), (), True),  # a superuser, like the demo's admin
    "integration": ((Role.INTEGRATION,), (), False),
    # Customers of the bank (each linked to the canary customer of its region, CUSTOMERS).
    "customer_north": ((Role.CUSTOMER,), (), False),
    "customer_south": ((Role.CUSTOMER,), (), False),
}
CUSTOMERS = {"customer_north": "north", "customer_south": "south"}
ASKERS = [  # those with ask_assistant
    key
    for key, (roles, _, _) in ROLE_USERS.items()
    if any(Action.ASK_ASSISTANT in ROLE_ACTIONS[role] for role in roles)
]
CUSTOMER_FACING = "customer-help"  # the demo's customer-facing collection (knowledge/demo.py)
REGION_NAMES = {"north": "North branch", "south": "South branch"}
VIEWERS_GROUP = "leak-matrix: view every admin model"  # not a role (see the docstring)
ARCHIVED_IN = "products-fees"  # agents read it; its managers keep its archived documents
ARCHIVED_CANARY = "CANARY-ARC-products-fees"
MISSING_PK = 987654321  # an id no row has: its 404 body is scanned too

# Sensitive values per region: (tax id, date of birth, account number, card last four).
SENSITIVE = {
    "north": ("913-57-2468", "1931-07-29", "770019283746", "5511"),
    "south": ("824-61-3579", "1942-11-03", "660028374615", "6622"),
}
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip

PDF_WITH = b"%%PDF-1.4\n%% %s\n1 0 obj << >> endobj\ntrailer << >>\n%%%%EOF\n"


# --- the seeded world --------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    keys: dict[str, str]  # API token keys by user key
    regions: dict[str, Region]
    collections: dict[str, Collection]
    documents: dict[str, Document]  # by collection slug
    archived: Document  # archived, in ARCHIVED_IN, holding ARCHIVED_CANARY
    customers: dict[str, Customer]  # by region code
    accounts: dict[str, Account]
    transactions: list[Transaction]
    cases: list[Case]
    conversations: dict[str, Conversation]  # by owner key
    answers: dict[str, Message]  # the seeded answer, by owner key
    handoffs: dict[str, Handoff]  # by owner key
    feedback: dict[str, Feedback]
    submissions: dict[str, FormSubmission]  # by canary
    attachments: list[SubmissionAttachment]
    threads: dict[str, Thread]  # by region code
    audit_ids: list[int]  # the audit trail as seeded (the walk's own events come later)

    def messages(self) -> list[Message]:
        return list(Message.objects.order_by("pk"))


def _document(collection: Collection, slug: str, text: str = "", title: str = "") -> Document:
    """Like tests/knowledge/conftest.py's ``add_document``: stored, then ingested now."""
    text = text or (
        f"# Leak matrix {slug}\n\nThe reference word of this collection is CANARY-COL-{slug}. "
        f"It covers card fees, disputes, procedures and policies for {slug}.\n"
    )
    document = document_create(
        actor=None,
        collection=collection,
        title=title or f"Leak matrix {slug}",
        file=ContentFile(text.encode(), name="leak.md"),
        enqueue=False,
    )
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status == "ready", (document.status, document.error)
    return document


def _customer(region: Region, code: str) -> tuple[Customer, Account, list[Transaction], Case]:
    tax_id, born, account_number, card = SENSITIVE[code]
    customer = make_customer(
        region,
        f"CANARY-CUS-{code}-NO",
        f"Canary CANARY-CUS-{code}",
        email=f"canary-cus-{code}@example.com",
        address_line1=f"1 CANARY-CUS-{code} Street",
        tax_id=tax_id,
        date_of_birth=born,
    )
    account = Account.objects.create(
        customer=customer,
        type="checking",
        account_number=account_number,
        card_last4=card,
        balance=Decimal("100.00"),
        opened=date(2020, 1, 2),
    )
    transactions = [
        Transaction.objects.create(
            account=account,
            posted_date=date(2026, 11, day),
            amount=Decimal("-42.50"),
            merchant=f"CANARY-CUS-{code} Grocer",
            category="Grocery",
        )
        for day in (1, 2)
    ]
    case = Case.objects.create(
        customer=customer,
        type="fraud_alert",
        opened=date(2026, 11, 3),
        summary=f"Fraud alert about CANARY-CUS-{code}",
    )
    return customer, account, transactions, case


def _submission(
    user: Any,
    slug: str,
    customer: Customer,
    data: dict[str, Any],
    *,
    account: Account | None = None,
    transaction_row: Transaction | None = None,
    file_canary: str = "",
    submit: bool = True,
) -> tuple[FormSubmission, SubmissionAttachment | None]:
    """A draft pre-filled as ``user`` sees the record (then ``data``), optionally submitted."""
    definition = definition_get(user, slug)
    values = prefill(user, definition, customer, account, transaction_row)
    initial = {k: v["value"] for k, v in values.items() if v["value"] is not None}
    draft = submission_create_draft(
        actor=user,
        definition=definition,
        customer=customer,
        account=account,
        transaction=transaction_row,
        data={**initial, **data},
    )
    attachment = None
    if file_canary:
        upload = SimpleUploadedFile(
            "statement.pdf", PDF_WITH % file_canary.encode(), content_type="application/pdf"
        )
        attachment = submission_attach_file(
            actor=user, submission=draft, key="proof_of_address", upload=upload
        )
    if submit:
        draft = submission_submit(actor=user, submission=draft)
    return draft, attachment


def _thread(users: dict[str, Any], code: str, echo: EchoModel) -> Thread:
    """The region's customer writes; the assistant drafts (as the customer: from the
    customer-facing collection only); the region's staff note, reply, withdraw a reply."""
    customer = users[f"customer_{code}"]
    staff = users["agent_north"] if code == "north" else users["agent_south"]
    thread = thread_start(
        user=customer,
        subject=f"Card fees CANARY-THR-{code}",
        category="card_dispute",
        body=f"CANARY-THR-{code}: what are the card fees and how do I dispute a charge?",
        attachments=[_text_file("receipt.txt", f"Receipt CANARY-THR-{code}")],
    )
    draft = draft_write(Draft.objects.get(thread=thread).pk)
    assert draft is not None and draft.status == "ready", draft
    assert draft.source_collections == [CUSTOMER_FACING], draft.source_collections
    internal = [f"CANARY-COL-{c.slug}" for c in Collection.objects.filter(customer_facing=False)]
    assert not any(word.lower() in draft.body.lower() for word in internal)
    note_add(user=staff, thread=thread, body=f"CANARY-NOTE-{code}: the customer called too")
    withdrawn = staff_reply_send(
        user=staff,
        thread=thread,
        body=f"CANARY-RET-{code}: oops",
        attachments=[_text_file("wrong.txt", f"Withdrawn CANARY-RET-{code}")],
    )
    message_retract(user=staff, message=withdrawn)
    staff_reply_send(
        user=staff,
        thread=thread,
        body=f"CANARY-RPL-{code}: here is the answer",
        attachments=[_text_file("guide.txt", f"Guide CANARY-RPL-{code}")],
    )
    return thread


def _text_file(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


def seed(echo: EchoModel) -> World:
    regions = {code: region_ensure(code=code, name=name) for code, name in REGION_NAMES.items()}
    viewers, _ = Group.objects.get_or_create(name=VIEWERS_GROUP)
    kinds = [ContentType.objects.get_for_model(model) for model in admin.site._registry]
    viewers.permissions.set(
        Permission.objects.filter(content_type__in=kinds, codename__startswith="view_")
    )
    users: dict[str, Any] = {}
    for key, (roles, codes, superuser) in ROLE_USERS.items():
        user, _ = user_ensure(
            username=key,
            password="correct horse battery staple",
            roles=roles,
            regions=[regions[code] for code in codes],
            email=f"{key}@staff.example",
            is_staff=True,
            is_superuser=superuser,
        )
        user.groups.add(viewers)
        users[key] = user
    with override_settings(CUSTOMER_API_TOKENS=True):  # so that customers try the API too
        keys = {
            key: api_token_create(user=user, name="leak-matrix", scopes=TOKEN_SCOPES)[1]
            for key, user in users.items()
        }

    collections = seed_collections()
    assert [s for s, c in collections.items() if c.customer_facing] == [CUSTOMER_FACING]
    collections["north-notes"] = collection_create(
        actor=None,
        slug="north-notes",
        name="North branch notes",
        description="Notes for the North branch only.",
        read_roles=[role.value for role in STAFF],
        manage_roles=[Role.CONTENT_MANAGER.value, Role.ADMIN.value],
        read_regions=[regions["north"]],
    )
    documents = {slug: _document(collection, slug) for slug, collection in collections.items()}
    # A golden question per collection, naming its canary (the admin shows golden questions
    # to the collection's managers only, who are among its readers).
    for slug, collection in collections.items():
        golden_question_save(
            actor=None,
            collection=collection,
            question=f"What is the reference word CANARY-COL-{slug}?",
            documents=[documents[slug]],
        )
    # An archived document of a collection agents read: its text (pages, admin, search,
    # answers) is for the collection's managers only, who keep it for the records.
    archived = _document(
        collections[ARCHIVED_IN],
        ARCHIVED_IN,
        text=f"# Withdrawn fee note\n\nThe reference word of this withdrawn note is "
        f"{ARCHIVED_CANARY}. It covers card fees and disputes.\n",
        title="Leak matrix withdrawn fee note",
    )
    document_archive(actor=None, document=archived, reason="Superseded")

    customers, accounts, transactions, cases = {}, {}, [], []
    for code, region in regions.items():
        customer, account, rows, case = _customer(region, code)
        customers[code], accounts[code] = customer, account
        transactions += rows
        cases.append(case)
    for key, code in CUSTOMERS.items():
        CustomerLogin.objects.create(user=users[key], customer=customers[code])

    # Conversations: one per role that may ask, each answered by the echo model (which
    # repeats every canary of its sources), so answers carry what their sources held.
    questions = {
        "agent_north": "what are the card fees for canary-cus-north@example.com?",
        "agent_south": "what are the card fees for canary-cus-south@example.com?",
        "supervisor_north": "what is the card dispute procedure?",
        "compliance": "which AML procedures apply, and what is the tax id and date of birth?",
        "content_manager": "what are the fee schedules?",
        "admin": "what do the internal HR policies say?",
    }
    focus = {"compliance": customers["north"]}  # compliance's hand-off lands in the north queue
    conversations, answers = {}, {}
    for key, question in questions.items():
        conversation = conversation_create(
            owner=users[key], title=f"Chat CANARY-CONV-{key}", customer=focus.get(key)
        )
        answers[key] = echo.ask(users[key], conversation, f"CANARY-CONV-{key}: {question}")
        conversations[key] = conversation
    handoffs = {
        key: handoff_create(
            actor=users[key],
            conversation=conversations[key],
            reason=f"CANARY-HOF-{key}: this needs a person",
        )
        for key in ("agent_north", "agent_south", "compliance", "admin")
    }
    feedback = {
        key: feedback_record(
            user=users[key], message=answers[key], helpful=False, comment=f"CANARY-FBK-{key}"
        )
        for key in ("agent_north", "compliance")
    }

    seed_forms()
    north, south = customers["north"], customers["south"]
    address = {"postal_code": "12345", "city": "Springfield", "country": "US"}
    address["effective_date"] = "2026-12-01"
    submissions: dict[str, FormSubmission] = {}
    attachments: list[SubmissionAttachment] = []
    submission, attachment = _submission(
        users["agent_north"],
        "address-change",
        north,
        {"street": "12 CANARY-SUB-agent_north-address Road", **address},
        file_canary="CANARY-SUB-agent_north-file",
    )
    submissions["CANARY-SUB-agent_north-address"] = submission
    attachments += [attachment] if attachment else []
    submissions["CANARY-SUB-agent_north-sar"], _ = _submission(
        users["agent_north"],
        "suspicious-activity-referral",
        north,
        {"activity_types": ["structuring"], "narrative": "CANARY-SUB-agent_north-sar deposits"},
        account=accounts["north"],
    )
    submissions["CANARY-SUB-agent_south-draft"], _ = _submission(
        users["agent_south"],
        "address-change",
        south,
        {"street": "CANARY-SUB-agent_south-draft Lane", **address},
        submit=False,
    )
    submissions["CANARY-SUB-supervisor_north-dispute"], _ = _submission(
        users["supervisor_north"],
        "card-dispute",
        north,
        {"reason": "other", "other_reason": "CANARY-SUB-supervisor_north-dispute story"},
        account=accounts["north"],
        transaction_row=transactions[0],
    )
    # Compliance sees the account number in full: its pre-filled closure holds the full
    # value, which its supervisor reviewer may only see masked.
    submissions["account-closure by compliance"], _ = _submission(
        users["compliance"],
        "account-closure",
        north,
        {"reason": "moving", "balance_handling": "cheque"},
        account=accounts["north"],
    )
    threads = {code: _thread(users, code, echo) for code in regions}
    return World(
        users=users,
        keys=keys,
        regions=regions,
        collections=collections,
        documents=documents,
        archived=archived,
        customers=customers,
        accounts=accounts,
        transactions=transactions,
        cases=cases,
        conversations=conversations,
        answers=answers,
        handoffs=handoffs,
        feedback=feedback,
        submissions=submissions,
        attachments=attachments,
        threads=threads,
        audit_ids=list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    )


# --- canaries and who may see them (from the policy) -------------------------------------


@dataclass(frozen=True)
class Canary:
    name: str  # what a leak report shows, e.g. CANARY-CUS-north or tax_id(north) full
    kind: str  # col, arc (archived document), cus, full, masked, conv, hof, fbk, sub
    spellings: tuple[str, ...]  # what is looked for in a response (case-insensitive)
    token: bool  # a CANARY-... word (found by the token pattern) rather than a value
    search: str  # what the search and assistant probes send ("" for none)


def _date_spellings(iso: str) -> tuple[str, ...]:
    year, month, day = (int(part) for part in iso.split("-"))
    name = MONTHS[month - 1]
    return (
        iso,
        f"{day:02d}/{month:02d}/{year}",
        f"{month:02d}/{day:02d}/{year}",
        f"{name} {day}, {year}",
        f"{name[:3]}. {day}, {year}",
        f"{day} {name} {year}",
    )


def canaries_of(world: World) -> list[Canary]:
    found: list[Canary] = []

    def token(name: str, kind: str) -> None:
        found.append(Canary(name, kind, (name,), True, name.swapcase()))

    for slug in world.collections:
        token(f"CANARY-COL-{slug}", "col")
    for code in world.customers:
        token(f"CANARY-CUS-{code}", "cus")
    found += sensitive_canaries()
    for key in world.conversations:
        token(f"CANARY-CONV-{key}", "conv")
    for key in world.handoffs:
        token(f"CANARY-HOF-{key}", "hof")
    for key in world.feedback:
        token(f"CANARY-FBK-{key}", "fbk")
    for name in world.submissions:
        if name.startswith("CANARY-"):
            token(name, "sub")
    token("CANARY-SUB-agent_north-file", "sub")
    token(ARCHIVED_CANARY, "arc")
    for code in world.threads:
        for kind in ("thr", "rpl", "note", "ret"):
            token(f"CANARY-{kind.upper()}-{code}", kind)
    return found


def sensitive_canaries() -> list[Canary]:
    """The tax id, date of birth and account number of each region's customer: in full (every
    spelling a page might use) and masked as docs/roles.md shows them."""
    found: list[Canary] = []
    for code, (tax_id, born, number, _) in SENSITIVE.items():
        digits = tax_id.replace("-", "")
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        found += [
            Canary(
                f"tax_id({code}) full",
                "full",
                (tax_id, digits, tax_id.replace("-", " ")),
                False,
                tax_id.replace("-", "."),
            ),
            Canary(f"date_of_birth({code}) full", "full", _date_spellings(born), False, ""),
            Canary(f"account_number({code}) full", "full", (number, spaced), False, ""),
            Canary(f"tax_id({code}) masked", "masked", (mask_tax_id(tax_id),), False, ""),
            Canary(
                f"date_of_birth({code}) masked", "masked", (mask_date_of_birth(born),), False, ""
            ),
            Canary(
                f"account_number({code}) masked",
                "masked",
                (mask_account_number(number),),
                False,
                number[-4:],
            ),
        ]
    return found


def value_pattern(canaries: Iterable[Canary]) -> re.Pattern[str]:
    spellings = {s for c in canaries if not c.token for s in c.spellings}
    ordered = sorted(spellings, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)


def _customer_of(canary: Canary, world: World) -> Customer:
    code = re.search(r"\((\w+)\)|CANARY-CUS-(\w+)", canary.name)
    assert code is not None
    return world.customers[code.group(1) or code.group(2)]


def _field_of(canary: Canary) -> str:
    return canary.name.split("(")[0]


def _owner_of(canary: Canary) -> str:
    return canary.name.split("-", 2)[2].split("-")[0]


def _submission_of(canary: Canary, world: World) -> FormSubmission:
    name = "CANARY-SUB-agent_north-address" if canary.name.endswith("-file") else canary.name
    return world.submissions[name]


def own_customer_of(user: Any) -> Customer | None:
    """The customer record a customer account is linked to (the "self" scope)."""
    login = CustomerLogin.objects.filter(user=user).select_related("customer").first()
    return login.customer if login is not None and is_customer(user) else None


def may_know_customer(user: Any, customer: Customer) -> bool:
    """The record, as docs/roles.md puts it: a role that sees customers, in its regions."""
    if field_visibility(user, "customer") == "hidden":
        return False
    return Customer.objects.filter(region_filter(user, "region")).filter(pk=customer.pk).exists()


def allowed_and_expected(canary: Canary, user: Any, world: World) -> tuple[bool, bool]:
    """(may ``user`` see ``canary`` anywhere, must ``user`` find it somewhere), from the policy.

    "Allowed" is what the policy lets the user read by any route (a portal page, the API, the
    admin, the audit trail). "Expected" is the part of it the walk must observe, so that the
    matrix cannot pass by finding nothing.
    """
    superuser = bool(user.is_superuser)
    if canary.kind == "col":
        collection = world.collections[canary.name.removeprefix("CANARY-COL-")]
        ok = collections_visible_to(user).filter(pk=collection.pk).exists()
        # A customer "reads" the customer-facing collection (the assistant may quote it to
        # them in a reply) but has no page showing it: not expected anywhere.
        return ok, ok and not is_customer(user)
    own = own_customer_of(user)
    if own is not None and canary.kind in ("cus", "full", "masked"):
        # The self scope (/secure/records/): their own record, the fields listed in
        # CUSTOMER_MASKED_FIELDS masked (the page shows the account number, masked).
        customer = _customer_of(canary, world)
        if customer.pk != own.pk:
            return False, False
        masked = _field_of(canary) in settings.CUSTOMER_MASKED_FIELDS
        if canary.kind == "cus":
            return True, True
        if canary.kind == "full":
            return not masked, False
        return True, _field_of(canary) == "account_number"
    if canary.kind in ("thr", "rpl", "note", "ret"):
        thread = world.threads[canary.name.rsplit("-", 1)[1]]
        sees = threads_visible_to(user).filter(pk=thread.pk).exists()
        if is_customer(user):
            ok = sees and canary.kind in ("thr", "rpl")  # never notes, never withdrawn replies
        else:
            ok = sees and handles_threads(user)
        return ok, ok
    if canary.kind == "cus":
        ok = may_know_customer(user, _customer_of(canary, world))
        return ok, ok
    if canary.kind == "arc":
        # Archived: its managers only (they open it; readers get a 404 and no search hit).
        # Restored by a probe, it would be the collection's readers' again.
        document = Document.objects.get(pk=world.archived.pk)
        gate = collections_managed_by if document.archived_at else collections_visible_to
        ok = gate(user).filter(pk=document.collection_id).exists()
        return ok, ok
    if canary.kind in ("full", "masked"):
        known = may_know_customer(user, _customer_of(canary, world))
        level = field_visibility(user, _field_of(canary))
        if canary.kind == "full":
            return known and level == "full", known and level == "full"
        # The masked form is less than the full value: no leak for whoever sees it in full,
        # but only those who see the field masked are expected to meet it.
        return known and level != "hidden", known and level == "masked"
    if canary.kind in ("conv", "hof", "fbk"):
        owner = _owner_of(canary)
        if canary.kind == "conv":
            conversation = world.conversations[owner]
            reads = conversations_visible_to(user).filter(pk=conversation.pk).exists()
        elif canary.kind == "hof":
            reads = handoffs_visible_to(user).filter(pk=world.handoffs[owner].pk).exists()
        else:
            reads = user.pk == world.feedback[owner].user_id
        # Superusers read conversations, hand-offs and feedback in the admin (docs/roles.md,
        # "The Django admin"). The audit trail keeps the question, the hand-off reason and
        # the feedback comment only as fingerprints (portal.audit): view_audit reads none
        # of them.
        # Who supervises the assistant explains any answer: its question is shown
        # (assistant/explanation.py; the sources and the answer only within their rights).
        supervises = canary.kind == "conv" and can(user, Action.SUPERVISE_ANSWERS)
        ok = reads or superuser or supervises
        return ok, ok
    if canary.kind == "sub":
        submission = _submission_of(canary, world)
        portal = submissions_visible_to(user).filter(pk=submission.pk).exists()
        in_admin = submissions_in_admin(user).filter(pk=submission.pk).exists()
        # The admin lists submissions but never shows their values (forms_app/admin.py).
        return portal or in_admin, portal
    raise AssertionError(canary.kind)


# --- looking for canaries in responses ---------------------------------------------------

TOKEN_PATTERN = re.compile(r"canary-[a-z]+-[a-z0-9_-]*[a-z0-9_]", re.IGNORECASE)
TAG_PATTERN = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Leak:
    user: str
    path: str
    canary: str
    status: int


@dataclass
class Matrix:
    world: World
    canaries: list[Canary]
    allowed: dict[tuple[str, str], bool] = field(default_factory=dict)
    expected: dict[tuple[str, str], bool] = field(default_factory=dict)
    leaks: dict[tuple[str, str, str], Leak] = field(default_factory=dict)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)  # -> first path
    paths: set[str] = field(default_factory=set)
    checks: int = 0
    responses: int = 0
    server_errors: list[tuple[str, str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_token = {c.name.lower(): c for c in self.canaries if c.token}
        self.by_value = {s.lower(): c for c in self.canaries if not c.token for s in c.spellings}
        self.value_pattern = value_pattern(self.canaries)
        self.refresh_policy()

    def refresh_policy(self) -> None:
        for key, user in self.world.users.items():
            user.refresh_from_db()
            for canary in self.canaries:
                ok, expected = allowed_and_expected(canary, user, self.world)
                self.allowed[key, canary.name] = ok
                self.expected[key, canary.name] = expected

    def _tokens(self, text: str) -> Iterator[list[Canary]]:
        for match in TOKEN_PATTERN.finditer(text):
            word = match.group(0).lower()
            exact = self.by_token.get(word)
            if exact is not None:
                yield [exact]
                continue
            # A longer word built on a canary (CANARY-CUS-north-NO), or a cut one (a snippet).
            longer = [c for t, c in self.by_token.items() if word.startswith(t + "-")]
            cut = [c for t, c in self.by_token.items() if t.startswith(word) and len(word) > 12]
            candidates = longer or cut
            if candidates:
                yield candidates

    def found_in(self, text: str) -> list[list[Canary]]:
        # Search results highlight the words of a match (<mark>CANARY</mark>-COL-...): the
        # text without its tags is scanned too.
        variants = [text, TAG_PATTERN.sub("", text)] if "<mark" in text else [text]
        has_token = "canary" in text.lower()
        found: list[list[Canary]] = []
        for variant in variants:
            if has_token:
                found += list(self._tokens(variant))
            found += [
                [self.by_value[m.group(0).lower()]] for m in self.value_pattern.finditer(variant)
            ]
        return found

    def scan(self, user: str, path: str, status: int, text: str, surface: str) -> None:
        """Record what ``user`` got at ``path``: leaks, and the canaries they reached."""
        self.paths.add(path)
        self.responses += 1
        self.counts[surface] += 1
        self.checks += len(self.canaries)
        if status >= 500:
            self.server_errors.append((user, path, status))
        for candidates in self.found_in(text):
            allowed = [c for c in candidates if self.allowed[user, c.name]]
            if not allowed:
                canary = candidates[0]
                self.leaks.setdefault(
                    (user, path, canary.name), Leak(user, path, canary.name, status)
                )
            elif len(candidates) == 1:
                self.seen.setdefault((user, allowed[0].name), path)

    def response(
        self, user: str, label: str, response: Any, surface: str, strip: Iterable[str] = ()
    ) -> str:
        """Scan a test-client response (body and headers); returns the body as text. (The test
        client closes responses itself, keeping the database connection.)"""
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        text = body.decode("utf-8", "replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        scanned = f"{headers}\n{text}"
        for echo in strip:
            if echo:
                scanned = scanned.replace(echo, "\u2400")
        self.scan(user, label, response.status_code, scanned, surface)
        return text

    def summary(self) -> str:
        return f"leaks={len(self.leaks)} paths={len(self.paths)} checks={self.checks}"

    def table(self, leaks: Iterable[Leak]) -> str:
        rows = sorted(leaks, key=lambda leak: (leak.user, leak.path, leak.canary))
        width = max([len(leak.path) for leak in rows] + [4])
        lines = [f"{'role':<17} {'path':<{width}} status  canary"]
        lines += [
            f"{leak.user:<17} {leak.path:<{width}} {leak.status:<7} {leak.canary}" for leak in rows
        ]
        return "\n".join(lines)


# --- the fake model: calls the tools, then echoes every canary it was given --------------


class EchoModel:
    """Answers from the fake OpenAI server: first (when ``probe`` is set) a call of both
    retrieval tools with the probe's words, then one sentence repeating every canary word and
    sensitive value of its sources, citing [1]..[8] (markers beyond the sources are dropped
    by the pipeline). A source that should not have been there thus reaches the answer too."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.probe = ""  # the words of the current probe question ("" while seeding)
        self.values = value_pattern(sensitive_canaries())
        setattr(fake, "next_chat_reply", self.reply)  # noqa: B010 - replace the script

    @staticmethod
    def sources_of(messages: list[dict[str, Any]], probe: str) -> str:
        """What the model was given besides the question: sources and tool results."""
        parts = []
        for message in messages:
            content = str(message.get("content") or "")
            if message.get("role") == "user":
                parts.append(content.rsplit("\n\nQuestion: ", 1)[0])
            elif message.get("role") == "tool":
                parts.append(content)
        text = "\n".join(parts)
        return text.replace(probe, "\u2400") if probe else text

    def reply(self) -> dict[str, Any]:
        body = self.fake.requests[-1]["body"]
        messages = body.get("messages", [])
        if self.probe and not any(m.get("role") == "tool" for m in messages):
            arguments = {"query": self.probe}
            return {
                "tool_calls": [
                    {"name": "search_knowledge", "arguments": arguments},
                    {"name": "lookup_customer", "arguments": arguments},
                ]
            }
        text = self.sources_of(messages, self.probe)
        words = [m.group(0) for m in TOKEN_PATTERN.finditer(text)]
        words += [m.group(0) for m in self.values.finditer(text)]
        markers = "".join(f"[{n}]" for n in range(1, 9))
        return {"content": f"Echo: {'; '.join(dict.fromkeys(words)) or 'nothing'} {markers}"}

    def ask(self, user: Any, conversation: Conversation, text: str) -> Message:
        return answer(user=user, conversation=conversation, text=text)


# --- the routes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the URL name ("knowledge:document_detail"), or the route of an unnamed one
    route: str  # the whole route, e.g. "knowledge/documents/<int:pk>/"
    callback: Callable[..., Any]
    named: bool


def all_routes() -> list[Route]:
    """Every URL pattern of the project, through the resolver (namespaces joined)."""
    found: list[Route] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if pattern.name:
                    key = f"{namespace}:{pattern.name}" if namespace else pattern.name
                    found.append(Route(key, route, pattern.callback, True))
                else:
                    found.append(Route(route, route, pattern.callback, False))

    walk(get_resolver(), "", "")
    return found


@dataclass(frozen=True)
class Target:
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        extra = "".join(f" [{k}: {v}]" for k, v in self.headers)
        return f"{self.path}?{self.query}{extra}" if self.query else f"{self.path}{extra}"


Filler = Callable[[World], list[tuple[dict[str, Any], str]]]


def _none(world: World) -> list[tuple[dict[str, Any], str]]:
    return [({}, "")]


def _pks(objects: Callable[[World], Iterable[models.Model]]) -> Filler:
    def fill(world: World) -> list[tuple[dict[str, Any], str]]:
        return [({"pk": row.pk}, "") for row in objects(world)] + [({"pk": MISSING_PK}, "")]

    return fill


def _with_queries(base: Filler, queries: Callable[[World], list[str]]) -> Filler:
    def fill(world: World) -> list[tuple[dict[str, Any], str]]:
        rows = base(world)
        return rows + [(kwargs, query) for kwargs, _ in rows[:1] for query in queries(world)]

    return fill


def _documents(world: World) -> list[Document]:
    return list(Document.objects.order_by("pk"))


def _customers(world: World) -> list[Customer]:
    return list(Customer.objects.order_by("pk"))


def _submissions(world: World) -> list[FormSubmission]:
    return list(FormSubmission.objects.order_by("pk"))


def _conversations(world: World) -> list[Conversation]:
    return list(Conversation.objects.order_by("pk"))


def _handoffs(world: World) -> list[Handoff]:
    return list(Handoff.objects.order_by("pk"))


def _slugs(world: World) -> list[str]:
    return [*sorted(set(FormDefinition.objects.values_list("slug", flat=True))), "no-such-form"]


def _threads(world: World) -> list[Thread]:
    return list(Thread.objects.order_by("pk"))


def _secure_messages(world: World) -> list[SecureMessage]:
    return list(SecureMessage.objects.order_by("pk"))


def _customer_queries(world: World) -> list[str]:
    """?customer=, with every account and transaction, of every customer (and the wrong ones:
    another customer's account must answer like a missing one)."""
    queries = []
    for customer in _customers(world):
        queries.append(urlencode({"customer": customer.pk}))
        for account in Account.objects.order_by("pk"):
            queries.append(urlencode({"customer": customer.pk, "account": account.pk}))
            for row in account.transactions.order_by("pk"):
                query = {"customer": customer.pk, "account": account.pk, "transaction": row.pk}
                queries.append(urlencode(query))
    return queries


def _form_fill(world: World) -> list[tuple[dict[str, Any], str]]:
    return [({"slug": slug}, "") for slug in _slugs(world)] + [
        ({"slug": slug}, query) for slug in _slugs(world)[:-1] for query in _customer_queries(world)
    ]


def _form_preview(world: World) -> list[tuple[dict[str, Any], str]]:
    rows = FormDefinition.objects.order_by("slug", "version").values_list("slug", "version")
    return [({"slug": slug}, "") for slug in _slugs(world)] + [
        ({"slug": slug}, f"version={version}") for slug, version in rows
    ]


def _message_attachments(world: World) -> list[tuple[dict[str, Any], str]]:
    # Every file of a secure message under every thread (and a missing one): only its own
    # thread serves it, to those who read its message.
    ids = [*MessageAttachment.objects.order_by("pk").values_list("pk", flat=True), MISSING_PK]
    return [
        ({"pk": thread.pk, "attachment_id": pk}, "") for thread in _threads(world) for pk in ids
    ]


def _attachments(world: World) -> list[tuple[dict[str, Any], str]]:
    # Every attachment under every submission: only its own submission may serve it.
    return [
        ({"pk": submission.pk, "attachment_id": attachment.pk}, "")
        for submission in _submissions(world)
        for attachment in SubmissionAttachment.objects.order_by("pk")
    ]


def _transitions(world: World) -> list[tuple[dict[str, Any], str]]:
    rows = [
        ({"pk": submission.pk, "transition": name}, "")
        for submission in _submissions(world)
        for name in TRANSITIONS
    ]
    return [*rows, ({"pk": rows[0][0]["pk"], "transition": "no_such_transition"}, "")]


def _citations(world: World) -> list[tuple[dict[str, Any], str]]:
    # Every citation of every message, and one past the last. (The conversation page's script
    # asks for the same preview as a fragment, X-Fragment: 1; the full page includes that
    # fragment's template with the same context, so the full page covers it.)
    return [
        ({"pk": message.pk, "n": n}, "")
        for message in world.messages()
        for n in range(1, len(message.citations or []) + 2)
    ]


def _collection_ids(world: World) -> list[str]:
    collections = [f"collection={c.pk}" for c in Collection.objects.order_by("pk")]
    return [*collections, "status=ready", "archived=true"]


def _collection_slugs(world: World) -> list[str]:
    collections = [f"collection={c.slug}" for c in Collection.objects.order_by("pk")]
    return [*collections, "status=ready", "archived=true"]


def _customer_ids(world: World) -> list[str]:
    return [f"customer={c.pk}" for c in _customers(world)] + [f"customer={MISSING_PK}"]


def _handoff_statuses(world: World) -> list[str]:
    return ["status=open", "status=assigned", "status=resolved"]


# How to fill the parameters of each portal and API route (every object of the matching
# kind, plus a missing one) and which query strings to add. A route that is in neither this
# table nor the admin's generated routes fails the test: a new route cannot be forgotten.
# Searches (``q``, ``customer_q``) are probed separately, for every canary.
FILLERS: dict[str, Filler] = {
    # portal
    "portal:dashboard": _none,
    "portal:audit_list": _none,  # walked first, every page (see walk_audit)
    "portal:access_review": _none,
    "portal:audit_verify": _none,  # anchors: hashes and counts only
    "portal:export_list": _none,
    "portal:retention": _none,
    "portal:hold_release": _pks(lambda w: LegalHold.objects.order_by("pk")),  # POST only
    "portal:export_download": _pks(lambda w: RecordExport.objects.order_by("pk")),
    "portal:erasure": _none,  # certificates: customer numbers and counts only
    "portal:erasure_certificate": _pks(lambda w: ErasureCertificate.objects.order_by("pk")),
    "portal:access_review_csv": _none,
    "portal:access_review_record": lambda w: [  # POST only
        ({"user_id": pk}, "") for pk in [*(u.pk for u in w.users.values()), MISSING_PK]
    ],
    "portal:access_review_resolve": _pks(lambda w: AccessReview.objects.order_by("pk")),
    # knowledge
    "knowledge:search": _none,
    "knowledge:document_list": _with_queries(_none, _collection_ids),
    "knowledge:document_upload": _with_queries(_none, _collection_ids),
    "knowledge:document_detail": _pks(_documents),
    "knowledge:document_replace": _pks(_documents),
    "knowledge:document_reprocess": _pks(_documents),
    # Archive, then restore, for each user in turn (the POST probe's order): a manager's
    # probe leaves the document as it was. The delete page is walked (GET: its confirmation);
    # its POST is never sent (only routes whose GET answers 405 are POST-probed).
    "knowledge:document_archive": _pks(_documents),
    "knowledge:document_restore": _pks(_documents),
    "knowledge:document_delete": _pks(_documents),
    "customers:search": _none,
    "customers:detail": _pks(_customers),
    # forms
    "forms_app:form_list": _none,
    "forms_app:submission_list": _none,
    "forms_app:review_queue": _none,
    "forms_app:submission_detail": _pks(_submissions),
    "forms_app:submission_attachment": _attachments,
    "forms_app:submission_transition": _transitions,
    "forms_app:form_fill": _form_fill,
    "forms_app:form_preview": _form_preview,
    # assistant
    "assistant:chat": _with_queries(_none, _customer_ids),
    "assistant:conversation_create": _none,
    "assistant:conversation": _pks(_conversations),
    "assistant:ask": _pks(_conversations),
    "assistant:escalate": _pks(_conversations),
    "assistant:message_fragment": _pks(lambda w: w.messages()),
    "assistant:citation_preview": _citations,
    "assistant:feedback": _pks(lambda w: w.messages()),
    "assistant:answer_explain": _pks(lambda w: w.messages()),
    "assistant:handoff_queue": _with_queries(_none, lambda w: ["resolved=1"]),
    "assistant:handoff_assign": _pks(_handoffs),
    "assistant:handoff_resolve": _pks(_handoffs),
    # the secure message center: the staff inbox (POSTs: empty forms; an invitation mails
    # a new link and resets the customer's password) and the customer area
    "messaging:inbox": _with_queries(
        _none, lambda w: ["status=", "status=closed", "assigned=nobody", "waiting=1d"]
    ),
    "messaging:thread": _pks(_threads),
    "messaging:reply": _pks(_threads),
    "messaging:attachment": _message_attachments,
    "messaging:note": _pks(_threads),
    "messaging:assign": _pks(_threads),
    "messaging:close": _pks(_threads),
    "messaging:retract": _pks(_secure_messages),
    "messaging:discard": _pks(lambda w: Draft.objects.order_by("pk")),
    "messaging:invite": lambda w: [
        ({"customer_id": pk}, "") for pk in [*(c.pk for c in _customers(w)), MISSING_PK]
    ],
    "messaging:authenticator_remove": lambda w: [
        ({"customer_id": pk}, "") for pk in [*(c.pk for c in _customers(w)), MISSING_PK]
    ],
    "messaging:review": _pks(_secure_messages),
    "api:secure_message_review": _pks(_secure_messages),
    "api:thread_list": _with_queries(
        _none, lambda w: ["status=", "status=closed", "assigned=nobody", "waiting=1d"]
    ),
    "api:thread_detail": _pks(_threads),
    "api:thread_reply": _pks(_threads),
    "api:thread_attachment": _message_attachments,
    "api:thread_note": _pks(_threads),
    "api:thread_assign": _pks(_threads),
    "api:thread_close": _pks(_threads),
    "api:secure_message_retract": _pks(_secure_messages),
    "api:draft_discard": _pks(lambda w: Draft.objects.order_by("pk")),
    "secure_api:thread_list": _none,
    "secure_api:thread_detail": _pks(_threads),
    "secure_api:thread_messages": _pks(_threads),
    "secure_api:thread_attachment": _message_attachments,
    "secure:home": _none,
    "secure:records": _none,
    "secure:security": _none,  # the customer's own QR code (a new, unconfirmed device)
    "secure:thread_new": _none,
    "secure:thread": _pks(_threads),
    "secure:attachment": _message_attachments,
    "secure:form": _pks(_submissions),  # forms sent to customers: their own only
    "secure:login": _none,
    "secure:code": _none,
    "secure:logout": _none,  # POST-probed last (it signs the user out)
    "secure:invitation": lambda w: [({"token": "no-such-invitation-token"}, "")],
    "secure:invitation_password": _none,
    # accounts and API documentation
    "login": _none,
    "mfa_overview": _none,
    "mfa_enrol": _none,  # a QR code of the user's own new key
    "mfa_verify": _none,
    "mfa_recovery_codes": _none,
    "session_list": _none,
    "session_end": _pks(lambda w: UserSession.objects.order_by("pk")),  # everyone's sessions
    "session_end_others": _none,
    "sso_login": _none,  # single sign-on is off here: 404 (tests/portal/identity)
    "sso_callback": _none,
    # SCIM answers its bearer token only: every session here gets 401 (discovery is public
    # and static). tests/portal/identity/test_scim.py.
    "scim_root": _none,
    "scim": lambda w: [
        ({"path": path}, "")
        for path in ("Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes")
    ],
    "logout": _none,  # POST-probed last (it signs the user out)
    "password_change": _none,
    "password_change_done": _none,
    "api-schema": _none,
    "api-docs": _none,
    # API
    "api:me": _none,
    "api:collection_list": _none,
    "api:document_list": _with_queries(_none, _collection_slugs),
    "api:document_detail": _pks(_documents),
    "api:document_reprocess": _pks(_documents),
    "api:document_archive": _pks(_documents),
    "api:document_restore": _pks(_documents),
    "api:search": _none,
    "api:customer_search": _none,
    "api:customer_detail": _pks(_customers),
    "api:form_list": _none,
    "api:form_detail": lambda w: [({"slug": slug}, "") for slug in _slugs(w)],
    "api:form_prefill": lambda w: [({"slug": slug}, "") for slug in _slugs(w)],
    "api:submission_list": _none,
    "api:submission_detail": _pks(_submissions),
    "api:submission_file": _pks(_submissions),
    **{f"api:submission_{name}": _pks(_submissions) for name in TRANSITIONS},
    "api:conversation_list": _none,
    "api:conversation_detail": _pks(_conversations),
    "api:conversation_messages": _pks(_conversations),
    "api:message_feedback": _pks(lambda w: w.messages()),
    "api:handoff_list": _with_queries(_none, _handoff_statuses),
    "api:handoff_assign": _pks(_handoffs),
    "api:handoff_resolve": _pks(_handoffs),
}

# Routes that are not requested at all, and why. Everything else is requested (GET, or an
# empty POST when GET answers 405). Keep this list short and explained.
SKIPPED: dict[str, str] = {}

ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")
# POST-probed last: they end the session (ending one's own sessions does too).
LOGOUTS = {"logout", "admin:logout", "session_end", "session_end_others", "secure:logout"}


def _admin_rows(model: type[models.Model], world: World, view: str = "change") -> list[Any]:
    """The rows whose admin pages are walked: every row of the table for its change form and
    its delete page (which lists the related rows a deletion would take along). Exceptions:

    * "<pk>/" only redirects to "<pk>/change/" without reading the row, and the history page
      has the gate of the change form (the row through the admin's queryset, then
      has_view_or_change_permission) and shows the row's name, which the change form shows
      too, and its admin log, which nothing here writes: both are walked for the first row.
    * The audit trail, by far the largest table: the events as seeded (the walk adds its own,
      views and refusals, by the thousand), and of those the first one and one of each
      action for each set of canaries they hold. An event's page shows its own columns only
      and every event passes the same gate (AuditEventAdmin: the view_audit action, no row
      rule), so events without a canary cannot show one and events of the same action with
      the same canaries show the same. Nobody may delete an event, so its delete page is
      walked for the first row only.
    """
    rows = world.audit_ids if model is AuditEvent else None
    if rows is None:
        rows = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
    if view in ("history", "redirect") or (model is AuditEvent and view == "delete"):
        return rows[:1]
    return rows


def _admin_model(key: str) -> tuple[type[models.Model], str] | None:
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if key.startswith(prefix) and key.removeprefix(prefix) in ADMIN_VIEWS:
            return model, key.removeprefix(prefix)
    return None


def _admin_model_of_route(route: str) -> type[models.Model] | None:
    match = re.fullmatch(r"admin/(\w+)/(\w+)/<path:object_id>/", route)
    if match is None:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == match.groups():
            return model
    return None


def _autocomplete_queries() -> list[str]:
    """Relations (of any model) to a registered model the admin can search: the admin's
    autocomplete lists that model's rows (term empty: all of them) as the user's admin may.
    The answer depends only on the model related to, the field it is reached by (to_field)
    and the relation's limit_choices_to, so one relation of each such kind is enough."""
    from django.apps import apps

    queries = []
    kinds = set()
    for model in apps.get_models():
        for relation in model._meta.get_fields():
            remote = getattr(relation, "remote_field", None)
            if not relation.concrete or remote is None or not relation.is_relation:
                continue
            target = admin.site._registry.get(remote.model)
            if target is None or not target.search_fields:
                continue
            kind = (
                remote.model,
                getattr(remote, "field_name", None),
                repr(remote.limit_choices_to),
            )
            if kind in kinds:
                continue
            kinds.add(kind)
            queries.append(
                urlencode(
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": relation.name,
                        "term": "",
                    }
                )
            )
    return queries


def admin_targets(route: Route, world: World) -> list[Target] | None:
    """The admin's routes: generated per registered model, plus the site's own."""
    found = _admin_model(route.key) if route.named else None
    if found is not None:
        model, view = found
        if view in ("changelist", "add"):
            return [Target(reverse(route.key))]
        rows = _admin_rows(model, world, view) + ([MISSING_PK] if view == "change" else [])
        return [Target(reverse(route.key, kwargs={"object_id": pk})) for pk in rows]
    redirected = _admin_model_of_route(route.route) if not route.named else None
    if redirected is not None:  # "<pk>/" redirects to "<pk>/change/"
        rows = _admin_rows(redirected, world, "redirect")
        return [Target("/" + route.route.replace("<path:object_id>", str(pk))) for pk in rows]
    site = {
        "admin:index": [Target(reverse("admin:index"))],
        "admin:login": [Target(reverse("admin:login"))],
        # The same path: the portal's sign-in for the admin (a redirect, or a 403).
        "admin_login": [Target(reverse("admin_login"))],
        "admin:logout": [Target(reverse("admin:logout"))],
        "admin:password_change": [Target(reverse("admin:password_change"))],
        "admin:password_change_done": [Target(reverse("admin:password_change_done"))],
        "admin:jsi18n": [Target(reverse("admin:jsi18n"))],
        "admin:autocomplete": [Target(reverse("admin:autocomplete"))]
        + [Target(reverse("admin:autocomplete"), q) for q in _autocomplete_queries()],
        "admin:app_list": [
            Target(reverse("admin:app_list", kwargs={"app_label": label}))
            for label in sorted({m._meta.app_label for m in admin.site._registry})
        ],
        # django-otp's pages of an authenticator's key and QR code (refused to everyone:
        # OTP_ADMIN_HIDE_SENSITIVE_DATA), for every device.
        **{
            f"admin:otp_totp_totpdevice_{view}": [
                Target(reverse(f"admin:otp_totp_totpdevice_{view}", kwargs={"pk": pk}))
                for pk in TOTPDevice.objects.order_by("pk").values_list("pk", flat=True)
            ]
            + [Target(reverse(f"admin:otp_totp_totpdevice_{view}", kwargs={"pk": MISSING_PK}))]
            for view in ("config", "qrcode")
        },
        "admin:auth_user_password_change": [
            Target(reverse("admin:auth_user_password_change", kwargs={"id": user.pk}))
            for user in world.users.values()
        ],
        # The content type and id of one row of every registered model: "view on site".
        "admin:view_on_site": [
            Target(
                reverse(
                    "admin:view_on_site",
                    kwargs={
                        "content_type_id": ContentType.objects.get_for_model(model).pk,
                        "object_id": rows[0],
                    },
                )
            )
            for model in admin.site._registry
            if (rows := _admin_rows(model, world))
        ],
    }
    if route.key in site:
        return site[route.key]
    # The old customer-record admin links redirect to the "customers" app (portal/urls.py).
    if route.key.startswith("^admin/knowledge/(?P<rest>"):
        paths = [f"customer/{c.pk}/change/" for c in _customers(world)]
        paths += [f"transaction/{t.pk}/change/" for t in world.transactions]
        paths += [f"case/{c.pk}/change/" for c in world.cases]
        paths += [f"account/{a.pk}/change/" for a in world.accounts.values()]
        return [Target(f"/admin/knowledge/{rest}") for rest in paths]
    if route.key == "admin/(?P<url>.*)$":  # the admin's catch-all: an unknown admin page
        return [Target("/admin/no-such-page/")]
    return None


def targets_of(route: Route, world: World) -> list[Target] | None:
    """Where to send requests for ``route``; None when the walker does not know it."""
    if route.key in SKIPPED:
        return []
    if route.route.startswith("admin/") or route.key.startswith("^admin/"):
        return admin_targets(route, world)
    filler = FILLERS.get(route.key)
    if filler is None:
        return None
    targets = [Target(reverse(route.key, kwargs=kwargs), query) for kwargs, query in filler(world)]
    return targets


@cache
def _source_of(callback: Callable[..., Any]) -> str:
    view = getattr(callback, "view_class", None) or inspect.unwrap(callback)
    try:
        return inspect.getsource(view)
    except (OSError, TypeError):
        return ""


def reads_param(route: Route, name: str) -> bool:
    """Whether the view behind ``route`` reads the query parameter ``name``."""
    return f'"{name}"' in _source_of(route.callback)


# --- the walk ----------------------------------------------------------------------------


@dataclass
class Clients:
    web: Client
    api: APIClient


def clients_of(world: World, key: str) -> Clients:
    web = Client(raise_request_exception=False)
    web.force_login(world.users[key])
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys[key]}")
    return Clients(web, api)


def _client_for(clients: Clients, path: str) -> Client:
    return clients.api if path.startswith("/api/v1/") else clients.web


def _request(
    matrix: Matrix,
    clients: Clients,
    key: str,
    method: str,
    target: Target,
    surface: str,
    strip: Iterable[str] = (),
) -> Any:
    client = _client_for(clients, target.path)
    url = f"{target.path}?{target.query}" if target.query else target.path
    call = client.get if method == "GET" else client.post
    response = call(url, headers=dict(target.headers))
    matrix.response(key, f"{method} {target.label}", response, surface, strip)
    return response


def walk_audit(matrix: Matrix, clients: dict[str, Clients]) -> None:
    """The audit trail first, every page, before the walk's own events bury the seeded ones."""
    for key, client in clients.items():
        first = client.web.get("/audit/")
        matrix.response(key, "GET /audit/", first, "audit")
        total = AuditEvent.objects.count() if first.status_code == 200 else 0
        for page in range(2, math.ceil(total / 50) + 1):
            response = client.web.get("/audit/", {"page": page})
            matrix.response(key, f"GET /audit/?page={page}", response, "audit")


def _surface(route: Route) -> str:
    return _surface_of_path("/" + route.route.lstrip("^"))


def _surface_of_path(path: str) -> str:
    if path.startswith("/admin"):
        return "admin"
    return "api" if path.startswith("/api/v1/") else "page"


REFUSED = (401, 403)


def _is_missing(target: Target) -> bool:
    return str(MISSING_PK) in target.path + target.query or "no-such-form" in target.path


def _walk_rest(
    matrix: Matrix,
    client: Clients,
    key: str,
    method: str,
    targets: list[Target],
    first: int,
    surface: str,
) -> None:
    """Request the targets after the first (which answered ``first``) as ``key``. A route
    that refuses the user (401/403) both for its first target (a real object) and for a
    missing one refuses before it reads its parameters at all (a row-level refusal answers
    404 for a missing row, docs/architecture.md): its other targets are then not requested
    (counted as "closed" in the summary)."""
    rest = targets[1:]
    missing = next((t for t in rest if _is_missing(t)), None)
    if first in REFUSED and missing is not None:
        rest.remove(missing)
        if _request(matrix, client, key, method, missing, surface).status_code in REFUSED:
            matrix.counts[f"{surface}-closed"] += len(rest)
            return
    for target in rest:
        _request(matrix, client, key, method, target, surface)


def walk_routes(
    matrix: Matrix, world: World, clients: dict[str, Clients], routes: list[Route]
) -> dict[str, list[Target]]:
    """GET every target of every route as every user; the POST-only routes (405) are
    returned, by route key, for the empty-POST probe."""
    post_only: dict[str, list[Target]] = {}
    for route in routes:
        targets = targets_of(route, world)
        assert targets is not None
        if not targets:
            continue
        if route.key in LOGOUTS:  # POST-probed last; a GET must not sign anyone out either
            post_only[route.key] = targets
            continue
        for key, client in clients.items():
            first = _request(matrix, client, key, "GET", targets[0], _surface(route))
            if first.status_code == 405:
                # A view without GET (require_POST, or an API view without a get handler)
                # answers 405 to everyone for every target: no GET can reach data there.
                post_only[route.key] = targets
                break
            surface = _surface(route)
            _walk_rest(matrix, client, key, "GET", targets, first.status_code, surface)
    return post_only


def probe_posts(
    matrix: Matrix, clients: dict[str, Clients], post_only: dict[str, list[Target]]
) -> None:
    """An empty POST to every POST-only target, as every user; the sign-outs come last."""
    order = sorted(post_only, key=lambda key: key in LOGOUTS)
    for key, client in clients.items():
        for route_key in order:
            targets = post_only[route_key]
            surface = "post-admin" if targets[0].path.startswith("/admin/") else "post"
            first = _request(matrix, client, key, "POST", targets[0], surface).status_code
            _walk_rest(matrix, client, key, "POST", targets, first, surface)


def search_targets(routes: list[Route], world: World, term: str) -> list[Target]:
    """Every search of the portal, the API and the admin, for ``term``."""
    targets = []
    for route in routes:
        if route.named and not route.route.startswith("admin") and "<" not in route.route:
            for name in ("q", "search"):
                if reads_param(route, name):
                    targets.append(Target(reverse(route.key), urlencode({name: term})))
    # The form page's customer search: the same for every form, so one form is enough.
    targets.append(
        Target(reverse("forms_app:form_fill", args=["address-change"]),
               urlencode({"customer_q": term}))
    )  # fmt: skip
    for model, model_admin in admin.site._registry.items():
        if model_admin.search_fields and _admin_search_matches(model, model_admin, term, world):
            path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            targets.append(Target(path, urlencode({"q": term})))
    return targets


def _admin_search_matches(
    model: type[models.Model], model_admin: Any, term: str, world: World
) -> bool:
    """Whether ``term`` matches any row of the whole table in the admin's search. Only then can
    a changelist search show anyone a row (the admin filters rows, it never adds any), so the
    other searches are not sent."""
    request = RequestFactory().get("/")
    request.user = world.users["admin"]
    rows, _ = model_admin.get_search_results(request, model._default_manager.all(), term)
    return bool(rows.exists())


def probe_searches(
    matrix: Matrix, world: World, clients: dict[str, Clients], routes: list[Route]
) -> None:
    for canary in matrix.canaries:
        if not canary.search:
            continue
        targets = search_targets(routes, world, canary.search)
        encoded = urlencode({"q": canary.search})[2:]
        for key, client in clients.items():
            for target in targets:
                surface = "search-admin" if target.path.startswith("/admin/") else "search"
                _request(matrix, client, key, "GET", target, surface, [canary.search, encoded])


def probe_assistant(
    matrix: Matrix, world: World, clients: dict[str, Clients], echo: EchoModel
) -> None:
    """Ask about every canary, as every role that may ask, through the API; scan the prompt
    the model got, the answer (content, citations, cards, tool calls) and the citations'
    previews. The question's own words are left out: they are the asker's."""
    previewed: set[tuple[str, str, int | None, int | None]] = set()
    for canary in matrix.canaries:
        if not canary.search:
            continue
        probe = canary.search
        for key in ASKERS:
            client = clients[key]
            conversation = client.api.post("/api/v1/conversations/", {}, format="json")
            assert conversation.status_code == 201, conversation.content
            path = f"/api/v1/conversations/{conversation.json()['id']}/messages/"
            before = len(chat_requests(echo.fake))
            echo.probe = probe
            try:
                response = client.api.post(path, {"text": probe}, format="json")
            finally:
                echo.probe = ""
            label = f"POST {path} (asked {probe!r})"
            assert response.status_code == 201, (key, response.status_code, response.content)
            messages = [
                message
                for request in chat_requests(echo.fake)[before:]
                for message in request["body"]["messages"]
            ]
            sources = EchoModel.sources_of(messages, probe)
            matrix.scan(key, f"{label} prompt", 200, sources, "assistant-prompt")
            reply = response.json()["answer"]
            for call in reply.get("tool_calls") or []:
                call.pop("arguments", None)  # the probe's words, as the model passed them on
            shown = json.dumps(reply, ensure_ascii=False).replace(probe, "\u2400")
            matrix.scan(key, f"{label} answer", response.status_code, shown, "assistant")
            for citation in reply.get("citations") or []:
                # One preview per source and asker is enough: a preview shows the source.
                ids = (citation.get("chunk_id"), citation.get("customer_id"))
                source = (key, citation["type"], *ids)
                if source in previewed:
                    continue
                previewed.add(source)
                preview = f"/assistant/messages/{reply['id']}/citations/{citation['n']}/"
                got = client.web.get(preview)
                matrix.response(key, f"GET {preview}", got, "assistant-citation", [probe])


# --- the module's one run ----------------------------------------------------------------


@dataclass
class Run:
    matrix: Matrix
    routes: list[Route]
    unknown: list[str]
    roles: set[Role]
    searches: set[str]  # the paths the search probes found to send a query to


def audit_rows_to_walk(matrix: Matrix) -> list[int]:
    """The first seeded audit event, and one event of each action for each set of canaries
    the seeded events hold (see _admin_rows)."""
    rows = AuditEvent.objects.filter(pk__in=matrix.world.audit_ids).order_by("pk")
    chosen = {rows[0].pk}
    kinds: set[tuple[str, frozenset[str]]] = set()
    for event in rows.values():
        found = matrix.found_in(json.dumps(event, default=str, ensure_ascii=False))
        kind = (event["action"], frozenset(c.name for group in found for c in group))
        if found and kind not in kinds:
            kinds.add(kind)
            chosen.add(event["id"])
    return sorted(chosen)


@contextmanager
def queries_embedded_once() -> Iterator[None]:
    """The probes search the same few words thousands of times: each query is embedded once
    (the local model is deterministic; only the time changes)."""
    backend = get_backend()
    embed_query = backend.embed_query
    vectors: dict[str, np.ndarray] = {}

    def cached(text: str) -> np.ndarray:
        if text not in vectors:
            vectors[text] = embed_query(text)
        return vectors[text]

    setattr(backend, "embed_query", cached)  # noqa: B010 - on this instance only
    try:
        yield
    finally:
        delattr(backend, "embed_query")


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Thousands of refusals and 404s are expected: their warnings are not logged."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@pytest.fixture(scope="module")
def leak_run(django_db_setup: None, django_db_blocker: Any) -> Iterator[Run]:
    """Seed, walk and probe once for the module's tests; everything is rolled back after."""
    with (
        django_db_blocker.unblock(),
        fake_openai_server() as fake,
        override_settings(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-test",
            AZURE_OPENAI_ENDPOINT="",
            OPENAI_MODEL="test-model",
            LLM_MAX_RETRIES=0,
            LLM_TIMEOUT_SECONDS=10,
            ASSISTANT_RATE_LIMIT_PER_MINUTE=100000,
        ),
        transaction.atomic(),
        queries_embedded_once(),
        quiet_logs(),
    ):
        started = time.monotonic()
        echo = EchoModel(fake)
        world = seed(echo)
        canaries = canaries_of(world)
        matrix = Matrix(world, canaries)
        world.audit_ids = audit_rows_to_walk(matrix)
        matrix.timings["seed"] = time.monotonic() - started

        routes = all_routes()
        unknown = [r.key for r in routes if targets_of(r, world) is None]
        known = [r for r in routes if r.key not in unknown]
        clients = {key: clients_of(world, key) for key in world.users}

        phases: list[tuple[str, Callable[[], Any]]] = [
            ("audit", lambda: walk_audit(matrix, clients)),
        ]
        for name, run in phases:
            begun = time.monotonic()
            run()
            matrix.timings[name] = time.monotonic() - begun
        begun = time.monotonic()
        post_only = walk_routes(matrix, world, clients, known)
        matrix.timings["get"] = time.monotonic() - begun
        begun = time.monotonic()
        probe_posts(matrix, clients, post_only)
        clients = {key: clients_of(world, key) for key in world.users}  # signed out above
        matrix.refresh_policy()  # the probes may have moved submissions and hand-offs on
        matrix.timings["post"] = time.monotonic() - begun
        begun = time.monotonic()
        probe_searches(matrix, world, clients, known)
        matrix.timings["search"] = time.monotonic() - begun
        begun = time.monotonic()
        probe_assistant(matrix, world, clients, echo)
        matrix.timings["assistant"] = time.monotonic() - begun
        roles = {role for roles_, _, _ in ROLE_USERS.values() for role in roles_}
        searches = {target.path for target in search_targets(known, world, "x")}
        yield Run(matrix, routes, unknown, roles, searches)
        transaction.set_rollback(True)


# --- the tests ---------------------------------------------------------------------------


def _report(run: Run, request: pytest.FixtureRequest) -> str:
    matrix = run.matrix
    line = matrix.summary()
    counts = ", ".join(f"{k}={v}" for k, v in sorted(matrix.counts.items()))
    kinds: dict[str, int] = defaultdict(int)
    for route in run.routes:
        kinds[_surface(route)] += 1
    distinct: dict[str, int] = defaultdict(int)
    for path in matrix.paths:
        distinct[_surface_of_path(path.split(" ", 1)[1])] += 1
    walked = ", ".join(f"{k}: {kinds[k]} routes, {distinct[k]} URLs" for k in sorted(kinds))
    timings = ", ".join(f"{k}={v:.1f}s" for k, v in matrix.timings.items())
    request.node.user_properties.append(("leak_matrix", line))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{line}\n  {walked}\n  responses={matrix.responses} ({counts})\n  {timings}")
    return line


def test_leak_matrix(leak_run: Run, request: pytest.FixtureRequest) -> None:
    matrix = leak_run.matrix
    line = _report(leak_run, request)
    assert leak_run.roles == set(Role), f"roles without a walker: {set(Role) - leak_run.roles}"
    # The search probes find the searches by the parameters their views read: these must be
    # among them (a renamed parameter would otherwise silently drop a search from the probes).
    assert {"/knowledge/search/", "/customers/", "/api/v1/search/", "/api/v1/customers/"} <= (
        leak_run.searches
    ), leak_run.searches
    assert not leak_run.unknown, (
        "routes the leak matrix does not know how to fill (add them to FILLERS, or to SKIPPED "
        f"with a reason): {leak_run.unknown}"
    )
    leaks = list(matrix.leaks.values())
    assert not leaks, f"{line}: {len(leaks)} leak(s)\n{matrix.table(leaks)}"
    assert not matrix.server_errors, f"pages that failed (not checked): {matrix.server_errors}"
    # Positive reachability: whoever the policy expects to reach a canary found it somewhere.
    missed = [
        f"{user:<17} {canary.name}"
        for user in matrix.world.users
        for canary in matrix.canaries
        if matrix.expected[user, canary.name] and (user, canary.name) not in matrix.seen
    ]
    assert not missed, "canaries never reached by a user the policy lets read them:\n" + "\n".join(
        missed
    )
    assert all(any(matrix.expected[u, c.name] for u in matrix.world.users) for c in matrix.canaries)
