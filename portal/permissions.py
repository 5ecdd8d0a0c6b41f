"""The one permission policy: which role may do what, and which regions a user sees.

Apps build their own ``permissions.py`` on these primitives; views, DRF permission
classes, the admin and assistant tools are thin adapters over them. Row filters are
returned as ``Q`` objects so that they become SQL ``WHERE`` clauses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from django.db.models import Q

if TYPE_CHECKING:
    from portal.types import AnyUser


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    CONTENT_MANAGER = "content_manager"
    ADMIN = "admin"
    INTEGRATION = "integration"
    # A customer of the bank: the secure message center only (/secure/), linked to exactly
    # one customer record (knowledge.customers.CustomerLogin); never given by single sign-on
    # or SCIM, never together with a staff role.
    CUSTOMER = "customer"


# The roles of the bank's own people (everything but customers): what collections, forms
# and the identity provider's group mappings may name.
STAFF_ROLES: tuple[Role, ...] = tuple(role for role in Role if role is not Role.CUSTOMER)


class Action(StrEnum):
    USE_PORTAL = "use_portal"  # sign in to the web portal (integration accounts may not)
    USE_API = "use_api"
    VIEW_AUDIT = "view_audit"
    SEE_ALL_REGIONS = "see_all_regions"
    MANAGE_CONTENT = "manage_content"
    SEARCH_KNOWLEDGE = "search_knowledge"
    VIEW_CUSTOMERS = "view_customers"
    FILL_FORMS = "fill_forms"
    REVIEW_FORMS = "review_forms"
    ASK_ASSISTANT = "ask_assistant"
    MANAGE_HANDOFFS = "manage_handoffs"
    MANAGE_USERS = "manage_users"
    # Read any assistant answer with its lineage ("explain this answer"): AI supervision.
    SUPERVISE_ANSWERS = "supervise_answers"
    # Place and release legal holds (records kept whatever their retention).
    MANAGE_HOLDS = "manage_holds"
    # Erase a customer's personal data (crypto-shredding, portal.records.erasure).
    ERASE_PERSONAL_DATA = "erase_personal_data"
    # Handle customers' secure messages (the staff inbox of their regions).
    HANDLE_MESSAGES = "handle_messages"
    # A customer's own secure message center (/secure/): their threads, forms and records.
    USE_SECURE_MESSAGES = "use_secure_messages"


_STAFF = frozenset({Action.USE_PORTAL, Action.USE_API, Action.SEARCH_KNOWLEDGE})

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.AGENT: _STAFF
    | {Action.VIEW_CUSTOMERS, Action.FILL_FORMS, Action.ASK_ASSISTANT, Action.HANDLE_MESSAGES},
    Role.SUPERVISOR: _STAFF
    | {
        Action.VIEW_CUSTOMERS,
        Action.FILL_FORMS,
        Action.REVIEW_FORMS,
        Action.ASK_ASSISTANT,
        Action.MANAGE_HANDOFFS,
        Action.HANDLE_MESSAGES,
    },
    Role.COMPLIANCE: _STAFF
    | {
        Action.VIEW_CUSTOMERS,
        Action.FILL_FORMS,
        Action.REVIEW_FORMS,
        Action.ASK_ASSISTANT,
        Action.VIEW_AUDIT,
        Action.SEE_ALL_REGIONS,
        Action.SUPERVISE_ANSWERS,
        Action.MANAGE_HOLDS,
        Action.ERASE_PERSONAL_DATA,
        Action.HANDLE_MESSAGES,
    },
    Role.CONTENT_MANAGER: _STAFF | {Action.MANAGE_CONTENT, Action.ASK_ASSISTANT},
    Role.ADMIN: _STAFF
    | {
        Action.VIEW_AUDIT,
        Action.SEE_ALL_REGIONS,
        Action.MANAGE_CONTENT,
        Action.MANAGE_USERS,
        Action.ASK_ASSISTANT,
    },
    Role.INTEGRATION: frozenset({Action.USE_API, Action.SEARCH_KNOWLEDGE}),
    # Nothing of the staff portal or the API: the customer area checks this action and the
    # customer's own link (knowledge.customers.selectors.own_customer).
    Role.CUSTOMER: frozenset({Action.USE_SECURE_MESSAGES}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.AGENT: "Customer service: customers of their regions, forms, assistant.",
    Role.SUPERVISOR: "Reviews submissions and takes hand-offs for their regions.",
    Role.COMPLIANCE: "Sees all regions, reviews referrals, reads the audit trail.",
    Role.CONTENT_MANAGER: "Manages documents and collections; no customer data.",
    Role.ADMIN: "Configures the portal and users; reads the audit trail.",
    Role.INTEGRATION: "API-only service account; cannot sign in to the portal.",
    Role.CUSTOMER: "A customer: their own secure messages, forms and records at /secure/.",
}

_CACHE_ATTR = "_portal_roles_cache"
_REGIONS_CACHE_ATTR = "_portal_regions_cache"


def user_roles(user: AnyUser | None) -> frozenset[Role]:
    """The roles of ``user`` (its groups that name a role); superusers count as admin."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if "groups" in getattr(user, "_prefetched_objects_cache", {}):  # a list of users
        names = {group.name for group in user.groups.all()}
    else:
        names = set(user.groups.values_list("name", flat=True))
    roles = {role for role in Role if role.value in names}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    result = frozenset(roles)
    setattr(user, _CACHE_ATTR, result)
    return result


def forget_roles(user: AnyUser) -> None:
    """Drop the per-object role and region caches after the user's groups or regions
    changed (``request.user`` is loaded afresh for each request, so a request sees the roles
    and regions it started with)."""
    for attr in (_CACHE_ATTR, _REGIONS_CACHE_ATTR):
        if hasattr(user, attr):
            delattr(user, attr)


def has_role(user: AnyUser | None, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def actions_of(user: AnyUser | None) -> frozenset[Action]:
    actions: set[Action] = set()
    for role in user_roles(user):
        actions |= ROLE_ACTIONS[role]
    return frozenset(actions)


def can(user: AnyUser | None, action: Action) -> bool:
    """Whether ``user`` may perform ``action``; the single yes/no the apps ask."""
    return action in actions_of(user)


def can_act_for(actor: AnyUser | None, account: Any) -> bool:
    """Whether ``actor`` may act for ``account`` (hold or revoke its API tokens): the account
    itself, or whoever manages users. A token for someone else is signing in as them."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    return actor.pk == getattr(account, "pk", None) or can(actor, Action.MANAGE_USERS)


def is_customer(user: AnyUser | None) -> bool:
    """Whether ``user`` is a customer (confined to /secure/, portal.middleware)."""
    return Role.CUSTOMER in user_roles(user)


def region_ids_of(user: AnyUser | None) -> list[int]:
    """The ids of ``user``'s regions (read once per user object, like its roles)."""
    if user is None or not user.is_authenticated:
        return []
    cached: tuple[int, ...] | None = getattr(user, _REGIONS_CACHE_ATTR, None)
    if cached is None:
        profile = getattr(user, "profile", None)
        if profile is None:
            ids: tuple[int, ...] = ()
        elif "regions" in getattr(profile, "_prefetched_objects_cache", {}):
            ids = tuple(sorted(region.pk for region in profile.regions.all()))
        else:
            ids = tuple(profile.regions.values_list("id", flat=True))
        setattr(user, _REGIONS_CACHE_ATTR, ids)
        cached = ids
    return list(cached)


def region_filter(user: AnyUser | None, field: str = "region") -> Q:
    """SQL filter on a region foreign key ``field``: the rows ``user`` may see.

    Compliance and admin see every region; everyone else sees rows of their own
    regions only. A row without a region is visible to every user who may see the
    kind of record at all (the caller checks that with ``can``).
    """
    if not user_roles(user) or is_customer(user):  # customers: their own rows only
        return Q(pk__in=[])
    if can(user, Action.SEE_ALL_REGIONS):
        return Q()
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__in": region_ids_of(user)})


def regions_visible_to(user: AnyUser | None) -> Any:
    """The ``Region`` rows ``user`` may see, as a queryset."""
    from portal.models import Region

    queryset = Region.objects.all()
    if can(user, Action.SEE_ALL_REGIONS):
        return queryset
    return queryset.filter(pk__in=region_ids_of(user))


# Sensitive customer fields per role. "customer" is the whole record: hidden means no
# customer data at all. Fields not listed here are shown in full to roles that may see
# the record. How a masked value looks: knowledge/customers/masking.py (docs/roles.md).
Visibility = Literal["full", "masked", "hidden"]
SENSITIVE_CUSTOMER_FIELDS = ("customer", "tax_id", "date_of_birth", "account_number")
_VISIBILITY_ORDER: dict[str, int] = {"hidden": 0, "masked": 1, "full": 2}
_MASKED: dict[str, Visibility] = {
    "customer": "full",
    "tax_id": "masked",
    "date_of_birth": "masked",
    "account_number": "masked",
}
_FULL: dict[str, Visibility] = dict.fromkeys(SENSITIVE_CUSTOMER_FIELDS, "full")
_HIDDEN: dict[str, Visibility] = dict.fromkeys(SENSITIVE_CUSTOMER_FIELDS, "hidden")

FIELD_VISIBILITY: dict[Role, dict[str, Visibility]] = {
    Role.AGENT: _MASKED,
    Role.SUPERVISOR: _MASKED,
    Role.COMPLIANCE: _FULL,
    Role.ADMIN: _FULL,
    Role.CONTENT_MANAGER: _HIDDEN,
    Role.INTEGRATION: _HIDDEN,
    # Customers read no customer record through the staff selectors; their own records go
    # through the "self" scope (knowledge.customers.selectors.own_*, CUSTOMER_MASKING).
    Role.CUSTOMER: _HIDDEN,
}


def field_visibility(user: AnyUser | None, field: str) -> Visibility:
    """How ``user`` sees the customer ``field``: the most permissive of its roles' rules.

    A field that is not sensitive follows the record ("customer"); no role: hidden.
    """
    key = field if field in SENSITIVE_CUSTOMER_FIELDS else "customer"
    best: Visibility = "hidden"
    for role in user_roles(user):
        level = FIELD_VISIBILITY[role][key]
        if _VISIBILITY_ORDER[level] > _VISIBILITY_ORDER[best]:
            best = level
    return best
