"""The knowledge app in the portal shell: navigation, dashboard cards, demo data, and for
operations the embedding model's warm-up and readiness and the documents-by-status gauge."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from knowledge.permissions import collections_visible_to
from knowledge.services import document_versions_expired, document_versions_purge
from portal.permissions import Action, Role
from portal.registry import (
    AccessFact,
    DemoSeeder,
    MenuItem,
    MetricsGauge,
    ModelGrant,
    ReadinessCheck,
    RetentionClass,
    Warmup,
    register_access_fact,
    register_demo_seeder,
    register_menu_item,
    register_metrics_gauge,
    register_model_grant,
    register_readiness_check,
    register_retention_class,
    register_warmup,
)


def register() -> None:
    register_menu_item(
        MenuItem(
            "Search",
            "knowledge:search",
            Action.SEARCH_KNOWLEDGE,
            order=20,
            description="Search the policies and procedures your role may read.",
        )
    )
    register_menu_item(
        MenuItem("Documents", "knowledge:document_list", Action.SEARCH_KNOWLEDGE, order=30)
    )
    register_menu_item(
        MenuItem(
            "Content",
            "knowledge:document_list",
            Action.MANAGE_CONTENT,
            order=35,
            in_nav=False,
            description="Collections and documents the assistant answers from.",
        )
    )
    # The admin's pages for content managers (migrations forms_app 0005, knowledge 0007;
    # re-applied after every migrate and flush by portal.services.role_groups_ensure).
    for model, actions in (
        ("collection", ("view", "add", "change")),
        ("document", ("view", "add", "change", "delete")),
        ("chunk", ("view",)),
        ("goldenquestion", ("view", "add", "change", "delete")),
    ):
        register_model_grant(ModelGrant(Role.CONTENT_MANAGER, "knowledge", model, actions))
    register_access_fact(AccessFact("collections", "Collections it reads", _collections_read))
    register_demo_seeder(DemoSeeder("knowledge", _seed, order=10))
    register_retention_class(
        RetentionClass(
            "document_versions",
            "Uploads no longer the live version of their document",
            document_versions_purge,
            lambda cutoff, holds: document_versions_expired(cutoff, holds).count(),
            order=30,
        )
    )
    register_warmup(Warmup("embedding model", _warm_embedding_model))
    register_readiness_check(ReadinessCheck("embedding_model", _embedding_model_readiness))
    register_metrics_gauge(
        MetricsGauge(
            "portal_knowledge_documents",
            "Documents by ingestion status (failed: ingestion or upload refused).",
            ("status",),
            _documents_by_status,
        )
    )


def _warm_embedding_model() -> None:
    """Load the embedding model when a process starts (EMBEDDING_WARM_ON_START), so that
    the first search does not pay for it."""
    if settings.EMBEDDING_WARM_ON_START:
        from knowledge.embeddings import get_backend

        get_backend().warm()


def _embedding_model_readiness() -> dict[str, Any]:
    """Loaded or not, never loading it here. Not loaded is "not ready" only when the process
    should have loaded it at start (EMBEDDING_WARM_ON_START); otherwise it loads lazily."""
    from knowledge.embeddings import get_backend

    loaded = get_backend().loaded
    return {"ok": loaded or not settings.EMBEDDING_WARM_ON_START, "loaded": loaded}


def _documents_by_status() -> dict[tuple[str, ...], float]:
    from knowledge.models import DocumentStatus
    from knowledge.selectors import document_counts_by_status

    counts = document_counts_by_status()
    return {(status.value,): float(counts.get(status.value, 0)) for status in DocumentStatus}


def _seed() -> str:
    from knowledge.demo import seed_demo

    return seed_demo()


def _collections_read(user: Any) -> str:
    """For the access review: the collections the user's roles and regions let them read."""
    names = collections_visible_to(user).order_by("name").values_list("name", flat=True)
    return ", ".join(names) or "none"
