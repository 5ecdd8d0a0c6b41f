"""Demo collections and documents for seed_demo (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.base import ContentFile

from knowledge.models import Collection, Document
from knowledge.services import collection_create, document_create
from portal.permissions import Role

STAFF = [Role.AGENT, Role.SUPERVISOR, Role.COMPLIANCE, Role.CONTENT_MANAGER, Role.ADMIN]

# slug, name, description, sensitivity, readers, managers
COLLECTIONS: list[tuple[str, str, str, str, list[Role], list[Role]]] = [
    ("products-fees", "Product & fee schedules", "Products, prices and fees for all staff.",
     "internal", STAFF, [Role.CONTENT_MANAGER, Role.ADMIN]),
    ("fraud-disputes", "Fraud & disputes policies", "Card disputes, chargebacks, fraud handling.",
     "confidential", [Role.AGENT, Role.SUPERVISOR, Role.COMPLIANCE], [Role.CONTENT_MANAGER]),
    ("compliance-aml", "Compliance & AML procedures", "AML, sanctions and SAR procedures.",
     "restricted", [Role.COMPLIANCE], [Role.COMPLIANCE]),
    ("internal-hr", "Internal HR", "Staff policies; administrators only.",
     "restricted", [Role.ADMIN], [Role.ADMIN]),
    ("customer-help", "Help for customers", "Published help pages: what customers may be told.",
     "public", STAFF, [Role.CONTENT_MANAGER, Role.ADMIN]),
]  # fmt: skip
# What the assistant may quote in replies to customers (assistant.messaging).
CUSTOMER_FACING = {"customer-help"}

DOCUMENTS_DIR = Path(__file__).resolve().parent / "demo_documents"


def seed_collections() -> dict[str, Collection]:
    """Create the demo collections unless they exist; returns them by slug."""
    result: dict[str, Collection] = {}
    for slug, name, description, sensitivity, readers, managers in COLLECTIONS:
        existing = Collection.objects.filter(slug=slug).first()
        result[slug] = existing or collection_create(
            actor=None,
            slug=slug,
            name=name,
            description=description,
            sensitivity=sensitivity,
            read_roles=[r.value for r in readers],
            manage_roles=[r.value for r in managers],
            customer_facing=slug in CUSTOMER_FACING,
        )
    return result


def seed_documents(collections: dict[str, Collection]) -> int:
    """Add the demo documents (files under demo_documents/<slug>/) that are not there yet."""
    created = 0
    for folder in sorted(DOCUMENTS_DIR.iterdir()):
        collection = collections.get(folder.name)
        if collection is None:
            continue
        for path in sorted(folder.iterdir()):
            title = path.stem.replace("-", " ").capitalize()
            if Document.objects.filter(collection=collection, title=title).exists():
                continue
            document_create(
                actor=None,
                collection=collection,
                title=title,
                file=ContentFile(path.read_bytes(), name=path.name),
            )
            created += 1
    return created


def seed_demo() -> str:
    """The demo collections and their documents (queued for the workers); seed_demo's line."""
    collections = seed_collections()
    added = seed_documents(collections)
    return f"{len(collections)} collections, {added} new documents queued"
