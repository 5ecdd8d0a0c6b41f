"""Assistant fixtures: the fake model server, customers and forms, a conversation helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.knowledge.conftest import add_document, collections, role_users  # noqa: F401
from tests.support.openai_server import FakeOpenAI, fake_openai_as_portal_model

PRODUCTS_CANARY = "zanzibarfeecanary"
COMPLIANCE_CANARY = "quokkaamlcanary"
FEES_TEXT = (
    "# Card fees\n\nThe annual card fee is 5 euros for standard cards. "
    f"Replacement cards cost 10 euros. Reference {PRODUCTS_CANARY}.\n"
)
AML_TEXT = (
    "# AML thresholds\n\nThe annual card fee review is confidential. "
    f"Suspicious activity threshold is secret. Reference {COMPLIANCE_CANARY}.\n"
)


@pytest.fixture
def llm_server(settings: Any) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, configured as the portal's model (no retries, 5 s timeout)."""
    with fake_openai_as_portal_model(settings) as fake:
        yield fake


@pytest.fixture
def without_llm(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.AZURE_OPENAI_ENDPOINT = ""


@pytest.fixture
def server(llm_server: FakeOpenAI) -> FakeOpenAI:
    """The short name used by the older tests."""
    return llm_server


@pytest.fixture
def no_llm(without_llm: None) -> None:
    """The short name used by the older tests."""


@pytest.fixture
def bank(db: None, regions: dict[str, Any]) -> dict[str, Any]:
    """20 seeded customers (both regions) and the four demo forms."""
    from forms_app.demo import seed_forms
    from knowledge.customers.demo import seed_customers
    from knowledge.customers.models import Customer

    seed_customers(count=20)
    seed_forms()
    north = Customer.objects.filter(region=regions["north"]).order_by("pk")
    south = Customer.objects.filter(region=regions["south"]).order_by("pk")
    return {"north": list(north), "south": list(south)}


@pytest.fixture
def ask() -> Callable[..., Any]:
    """ask(user, text, conversation=None) -> the stored answer (a new conversation if none)."""
    from assistant.answering import answer
    from assistant.services import conversation_create

    def _ask(user: Any, text: str, conversation: Any = None) -> Any:
        conversation = conversation or conversation_create(owner=user)
        return answer(user=user, conversation=conversation, text=text)

    return _ask


def prompt_text(request: dict[str, Any]) -> str:
    """Everything one chat request put in front of the model, as one string."""
    return "\n".join(str(m.get("content") or "") for m in request["body"]["messages"])


def chat_requests(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"].endswith("/chat/completions")]


@pytest.fixture
def documents(collections: dict[str, Any], add_document: Any) -> dict[str, Any]:  # noqa: F811
    """A fees document agents may read and an AML document only compliance may read."""
    return {
        "fees": add_document(collections["products-fees"], "Card fees", FEES_TEXT),
        "aml": add_document(collections["compliance-aml"], "AML thresholds", AML_TEXT),
    }


@pytest.fixture
def agent(role_users: dict[str, Any]) -> Any:  # noqa: F811
    """The north agent of ``role_users`` (modules may define an agent of their own)."""
    return role_users["agent"]
