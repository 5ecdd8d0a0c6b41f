"""Knowledge fixtures: the demo collections, and documents ingested synchronously."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from knowledge.demo import seed_collections
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Collection, Document
from knowledge.services import document_create
from portal.permissions import Role


@pytest.fixture
def collections(db: None) -> dict[str, Collection]:
    """products-fees (all staff), fraud-disputes, compliance-aml, internal-hr."""
    return seed_collections()


@pytest.fixture
def add_document(db: None) -> Callable[..., Document]:
    """add_document(collection, title, text, name="x.md") -> a ready document (ingested now)."""

    def _add(
        collection: Collection, title: str, text: str | bytes, name: str = "doc.md"
    ) -> Document:
        data = text.encode() if isinstance(text, str) else text
        document = document_create(
            actor=None,
            collection=collection,
            title=title,
            file=ContentFile(data, name=name),
            enqueue=False,
        )
        ingest([document.pk])
        document.refresh_from_db()
        return document

    return _add


@pytest.fixture
def role_users(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    """One user per role (agents in the north region)."""
    return {
        "agent": make_user("agent", Role.AGENT, regions=[regions["north"]]),
        "supervisor": make_user("supervisor", Role.SUPERVISOR, regions=[regions["north"]]),
        "compliance": make_user("compliance", Role.COMPLIANCE),
        "content_manager": make_user("content", Role.CONTENT_MANAGER),
        "admin": make_user("admin", Role.ADMIN, is_staff=True, is_superuser=True),
        "integration": make_user("robot", Role.INTEGRATION),
    }
