"""Who may read and manage which collections: built on portal.permissions, as SQL filters."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from knowledge.models import Collection, Document
from portal.permissions import Action, can, is_customer, region_ids_of, user_roles
from portal.types import AnyUser


def _role_names(user: AnyUser) -> list[str]:
    return sorted(role.value for role in user_roles(user))


def collections_visible_to(user: AnyUser) -> QuerySet[Collection]:
    """Collections ``user`` may read: a reader or manager role, and a matching region.

    A customer's account reads the customer-facing collections and nothing else: what the
    assistant may quote in a reply to them (assistant.messaging drafts search as the
    customer). Customers have no search page; their area is /secure/ only."""
    if is_customer(user):
        return Collection.objects.filter(customer_facing=True, evaluation_run="")
    roles = _role_names(user)
    if not roles or not can(user, Action.SEARCH_KNOWLEDGE):
        return Collection.objects.none()
    collections = Collection.objects.filter(
        Q(read_roles__overlap=roles) | Q(manage_roles__overlap=roles)
    )
    if can(user, Action.SEE_ALL_REGIONS):
        return collections
    through = Collection.read_regions.through
    restricted = Exists(through.objects.filter(collection_id=OuterRef("pk")))
    in_region = Exists(
        through.objects.filter(collection_id=OuterRef("pk"), region_id__in=region_ids_of(user))
    )
    return collections.filter(~restricted | in_region)


def collections_managed_by(user: AnyUser) -> QuerySet[Collection]:
    """Collections whose documents ``user`` may upload, replace and reprocess."""
    roles = _role_names(user)
    if not roles or is_customer(user):
        return Collection.objects.none()
    return collections_visible_to(user).filter(manage_roles__overlap=roles)


def can_create_collection(user: AnyUser) -> bool:
    return can(user, Action.MANAGE_CONTENT)


def can_manage_collection(user: AnyUser, collection: Collection) -> bool:
    return collections_managed_by(user).filter(pk=collection.pk).exists()


def would_manage_collection(
    user: AnyUser, *, manage_roles: list[str], read_region_ids: list[int]
) -> bool:
    """Whether ``user`` would manage a collection with these manage roles and read regions:
    the rule of ``collections_managed_by`` (and ``collections_visible_to``) for a collection
    that is not stored yet."""
    roles = _role_names(user)
    if not can(user, Action.SEARCH_KNOWLEDGE) or not set(roles) & set(manage_roles):
        return False
    if not read_region_ids or can(user, Action.SEE_ALL_REGIONS):
        return True
    return bool(set(read_region_ids) & set(region_ids_of(user)))


def can_change_collection_access(user: AnyUser) -> bool:
    """Whether ``user`` may change who reads or manages an existing collection (its roles and
    regions). That is an access decision, like giving someone a role: only those who manage
    users make it. A manager changes the collection's name and description; whoever creates a
    collection chooses its roles, since a new collection holds nothing yet."""
    return can(user, Action.MANAGE_USERS)


def documents_visible_to(user: AnyUser) -> QuerySet[Document]:
    """Documents ``user`` may open: those of the collections they may read, except archived
    ones, which only those who manage the collection open (kept for the records)."""
    current = Q(collection__in=collections_visible_to(user), archived_at__isnull=True)
    return Document.objects.filter(current | Q(collection__in=collections_managed_by(user)))


def documents_managed_by(user: AnyUser) -> QuerySet[Document]:
    """Documents ``user`` may replace, reprocess, archive, restore and delete."""
    return Document.objects.filter(collection__in=collections_managed_by(user))


def visible_collection_ids(user: AnyUser) -> list[int]:
    """Ids of the readable collections, resolved by one SQL query for use in search SQL.

    Search filters chunks on ``collection_id = ANY(these ids)``: the one rule of what it may
    return. A chunk of an archived document has no collection (``Chunk.collection``), so
    this filter leaves it out wherever it is applied, with nothing else to remember.
    """
    return list(collections_visible_to(user).values_list("id", flat=True))
