"""API fuzzing: schemathesis generates requests for every operation of the OpenAPI schema
that ``/api/schema/`` serves and sends each one through the portal's WSGI application as
every role (a bearer API token) and without credentials.

- As a role: never a 5xx, and every response is what the schema says: status code
  documented, content type, body (the error body too), headers.
- Without credentials (none, or a generated token or session cookie): 401; 404 for a URL
  that no route matches; 400 for a body no view could read; never data.

Bounded for CI: ``FUZZ_EXAMPLES`` (default 3) generated requests per operation, each sent
as the 6 roles and anonymously, plus the schema's own examples; deterministic (a fixed
seed). ``FUZZ_COVERAGE=1`` adds schemathesis's coverage phase (boundary values, wrong
types and content types, other methods). The larger run, its command and its figures:
docs/api.md, "API fuzzing".
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from assistant.answering import answer
from assistant.models import Message
from assistant.services import conversation_create, handoff_create
from forms_app.demo import seed_forms
from forms_app.selectors import definition_get
from forms_app.services import submission_create_draft, submission_submit
from knowledge.customers.demo import seed_customers
from knowledge.customers.selectors import customers_visible_to
from knowledge.demo import seed_collections
from knowledge.ingestion.pipeline import ingest
from knowledge.services import document_create
from portal.models import TOKEN_SCOPES
from portal.permissions import STAFF_ROLES, Role
from portal.services import api_token_create, region_ensure, user_ensure
from portal.wsgi import application

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
FUZZ_COVERAGE = os.environ.get("FUZZ_COVERAGE", "") == "1"
ANONYMOUS = "anonymous"
# Customers are not fuzzed: the staff API answers 404 to them for every path (tests of the
# secure message center and the leak matrix check that).
IDENTITIES = [role.value for role in STAFF_ROLES] + [ANONYMOUS]
SENT: Counter[str] = Counter()  # responses by who sent the request and their status


def _schema_dict() -> dict[str, Any]:
    """The schema /api/schema/ serves (``test_the_fuzzed_schema_is_the_served_one``), as
    JSON: generated here, because the test items are made before there is a database."""
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


SCHEMA_DICT = _schema_dict()
schema = schemathesis.openapi.from_dict(
    SCHEMA_DICT,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20261124,
            "cache": {"enabled": False},
            # NUL is refused by design before any view (docs/api.md; test_validation.py).
            "generation": {"deterministic": True, "database": "none", "allow-x00": False},
            "phases": {"coverage": {"enabled": FUZZ_COVERAGE}},
            "checks": {
                # Schema-valid bodies may break business rules (a customer that does not
                # exist, a transition from the wrong status): 400 is the documented answer.
                "positive_data_acceptance": {"enabled": False},
                # DRF takes what it can read for the declared type (0 for a string is "0",
                # an empty filter is no filter): a 2xx for such input is not an error.
                "negative_data_rejection": {"enabled": False},
                # Each request is sent without credentials below anyway.
                "ignored_auth": {"enabled": False},
            },
        }
    ),
)
schema.app = application  # requests, and the checks' own, go through WSGI

# Rows that path parameters name, filled when the data is seeded: the fuzzer picks a real
# one half of the time (rows of every user, so also ones the caller may not see).
REAL: dict[str, list[Any]] = {
    "conversations": [],
    "messages": [],
    "customers": [],
    "documents": [],
    "handoffs": [],
    "submissions": [],
    "forms": [],
}
PATH_OBJECTS = [(re.compile(rf"/{kind}/\{{(?:id|slug)\}}/"), kind) for kind in REAL]


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    path = context.operation.path
    kind = next((kind for pattern, kind in PATH_OBJECTS if pattern.search(path)), None)
    if kind is None or not REAL[kind]:
        return st.just(path_parameters)
    name, wanted = ("slug", str) if kind == "forms" else ("id", int)
    value = path_parameters.get(name)
    # Only values of the declared type: a negative case (text for an id) stays one.
    if not isinstance(value, wanted) or isinstance(value, bool):
        return st.just(path_parameters)
    real = st.sampled_from(REAL[kind]).map(lambda pk: {**path_parameters, name: pk})
    return st.one_of(st.just(path_parameters), real)


def _seed() -> dict[str, str]:
    """One user per role with an API token (the keys by role), and rows to find: the demo
    collections and forms, an ingested document, customers, submissions in draft and
    submitted, a conversation per user (the agent's with an answer and a hand-off)."""
    north = [region_ensure(code="north", name="North branch")]
    region_ensure(code="south", name="South branch")
    users = {}
    for role, regions, extra in [
        (Role.AGENT, north, {}),
        (Role.SUPERVISOR, north, {}),
        (Role.COMPLIANCE, [], {}),
        (Role.CONTENT_MANAGER, [], {}),
        (Role.ADMIN, [], {"is_staff": True}),
        (Role.INTEGRATION, [], {}),
    ]:
        users[role], _ = user_ensure(
            username=f"fuzz_{role}", password="x" * 20, roles=[role], regions=regions, **extra
        )
    keys = {
        role.value: api_token_create(user=user, name="fuzz", scopes=TOKEN_SCOPES)[1]
        for role, user in users.items()
    }

    collections = seed_collections()
    document = document_create(
        actor=None,
        collection=collections["products-fees"],
        title="Card fees",
        file=ContentFile(b"# Card fees\n\nThe annual card fee is 5 euros.\n", name="fees.md"),
        enqueue=False,
    )
    ingest([document.pk])
    seed_customers(count=6)
    seed_forms()

    agent = users[Role.AGENT]
    customer = customers_visible_to(agent).order_by("pk").first()
    assert customer is not None
    address_change = definition_get(agent, "address-change")
    submissions = [
        submission_create_draft(actor=agent, definition=address_change, customer=customer),
        submission_create_draft(
            actor=agent, definition=definition_get(agent, "card-dispute"), customer=customer
        ),
    ]
    complete = submission_create_draft(
        actor=agent,
        definition=address_change,
        customer=customer,
        data={
            "customer_name": customer.full_name,
            "customer_number": customer.customer_number,
            "street": "2 High Street",
            "postal_code": "12345",
            "city": "Springfield",
            "country": "Utopia",
            "effective_date": "2026-12-01",
        },
    )
    submissions.append(submission_submit(actor=agent, submission=complete))

    conversations = [
        conversation_create(owner=user, title=f"{role} fees")
        for role, user in users.items()
        if role != Role.INTEGRATION  # may not use the assistant
    ]
    answer(user=agent, conversation=conversations[0], text="Annual card fee?")
    handoff = handoff_create(actor=agent, conversation=conversations[0], reason="A person")

    REAL["conversations"] = [c.pk for c in conversations]
    REAL["messages"] = list(
        Message.objects.filter(conversation=conversations[0]).values_list("pk", flat=True)
    )
    REAL["customers"] = list(
        customers_visible_to(users[Role.COMPLIANCE]).values_list("pk", flat=True)
    )
    REAL["documents"] = [document.pk]
    REAL["handoffs"] = [handoff.pk]
    REAL["submissions"] = [s.pk for s in submissions]
    REAL["forms"] = ["address-change", "card-dispute", "suspicious-activity-referral"]
    return keys


@pytest.fixture(scope="module")
def fuzz_keys(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """Seeded once for the module and rolled back after it; each test runs in a savepoint."""
    with (
        django_db_blocker.unblock(),
        # No model server: the assistant answers with the extractive answerer.
        override_settings(OPENAI_BASE_URL="", OPENAI_API_KEY="", AZURE_OPENAI_ENDPOINT=""),
        transaction.atomic(),
    ):
        yield _seed()
        transaction.set_rollback(True)
    # The figures of docs/api.md, "API fuzzing" (shown with -s).
    print(f"\nAPI fuzzing, requests sent: {sum(SENT.values())} {dict(sorted(SENT.items()))}")


@pytest.fixture
def wsgi_app(db: None) -> Iterator[Any]:
    """The portal's WSGI application. Django closes the database connection after each
    request, which would end the test's transaction: like Django's test client, not here."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
# (also names the items after their operation: pytest 9 leaves the label out otherwise)
@pytest.mark.parametrize("identities", [IDENTITIES], ids=["each role and anonymous"])
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_api_fuzz(
    case: Any, identities: list[str], fuzz_keys: dict[str, str], wsgi_app: Any
) -> None:
    """Each generated request is sent as every role, then without credentials."""
    failures = []
    for who in identities:
        try:
            _send_as(case, who, fuzz_keys)
        except (AssertionError, BaseExceptionGroup) as failure:
            failures.append(f"As {who}: {failure}")
    assert not failures, "\n\n".join(failures)


def _send_as(case: Any, who: str, keys: dict[str, str]) -> None:
    if who != ANONYMOUS:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {keys[who]}"})
        SENT[f"roles {response.status_code // 100}xx"] += 1
        return
    response = case.call_and_validate()
    SENT[f"anonymous {response.status_code}"] += 1
    if response.status_code == 404:
        assert not _routed(case.formatted_path), f"404, not 401: {case.as_curl_command()}"
    elif response.status_code == 400:
        # A request no view could read (a multipart body without its boundary) is refused
        # before authentication, by the middleware: an error body, never data.
        assert set(response.json()) == {"message", "extra"}, response.text
    else:
        assert response.status_code == 401, f"{response.text}: {case.as_curl_command()}"


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def test_the_fuzzed_schema_is_the_served_one(fuzz_keys: dict[str, str], wsgi_app: Any) -> None:
    client = Client(wsgi_app)
    assert client.get("/api/schema/?format=json").status_code == 401
    served = client.get(
        "/api/schema/?format=json", headers={"Authorization": f"Bearer {fuzz_keys['agent']}"}
    )
    assert served.status_code == 200
    assert served.json == SCHEMA_DICT
