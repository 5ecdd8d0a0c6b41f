"""The access review: who can see what, how it was granted, and the reviewers' decisions.

For every account: its roles and regions, how they were granted (the identity provider's
groups at the last single sign-on, or set by hand in the admin), the last sign-in, the
second factor, live API tokens with their scopes and last use, and what the roles give in
each app (``portal.registry.register_access_fact``: e.g. the collections it reads) and the
customer regions it sees. Compliance records a decision per account: "certified", or
"revoke" — an open task for who manages users until they mark it done. Every decision and
every resolution is audited. Read by who reads the audit trail (``view_audit``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import registry
from portal.formatting import csv_safe
from portal.models import AccessReview, ApiToken, ExternalIdentity
from portal.permissions import Action, Role, can, field_visibility, user_roles
from portal.services import audit_event_record
from portal.types import AnyUser, User

MAX_COMMENT = 2000


@dataclass
class AccessRow:
    user: Any
    roles: list[str]
    regions: list[str]
    granted_by: str
    last_sign_in: str
    second_factor: str
    tokens: list[str]
    customer_regions: str
    facts: dict[str, str] = field(default_factory=dict)
    last_review: AccessReview | None = None


def _may_read(actor: AnyUser) -> None:
    if not can(actor, Action.VIEW_AUDIT):
        raise PermissionDenied("Only who reads the audit trail reviews access.")


def access_rows(actor: AnyUser) -> list[AccessRow]:
    """One row per staff account (active first, then by user name); customers' accounts are
    not staff access and are left out."""
    _may_read(actor)
    now = timezone.now()
    users = (
        get_user_model()
        .objects.exclude(groups__name=Role.CUSTOMER.value)
        .order_by("-is_active", "username")
        .prefetch_related(
            "groups",
            "profile__regions",
            "scim_account__groups",
            Prefetch("external_identities", queryset=ExternalIdentity.objects.order_by("pk")),
            Prefetch(
                "api_tokens",
                queryset=ApiToken.objects.filter(revoked_at__isnull=True).order_by("name"),
                to_attr="live_tokens",
            ),
            Prefetch("access_reviews", queryset=AccessReview.objects.order_by("-created_at")),
        )
    )
    with_totp = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    facts = registry.access_facts()
    described: dict[tuple[Any, ...], dict[str, str]] = {}
    rows = []
    for user in users:
        identities = list(user.external_identities.all())
        scim = getattr(user, "scim_account", None)
        if scim is not None and scim.deleted_at is None:
            groups = sorted(group.display_name for group in scim.groups.all())
            granted = "provisioned (SCIM) groups: " + (", ".join(groups) or "none")
        elif identities:
            groups = sorted({g for identity in identities for g in identity.groups})
            granted = "single sign-on groups: " + (", ".join(groups) or "none")
        else:
            granted = "local account, set in the admin"
        profile = getattr(user, "profile", None)
        regions = sorted(r.code for r in profile.regions.all()) if profile else []
        tokens = [
            f"{token.name} ({', '.join(token.scopes) or 'no scope'}; last used "
            f"{token.last_used_at:%Y-%m-%d}" + ")"
            if token.last_used_at
            else f"{token.name} ({', '.join(token.scopes) or 'no scope'}; never used)"
            for token in user.live_tokens
            if token.expires_at is None or token.expires_at > now
        ]
        if field_visibility(user, "customer") == "hidden":
            customers = "none"
        elif can(user, Action.SEE_ALL_REGIONS):
            customers = "all regions"
        else:
            customers = ", ".join(regions) or "none"  # regions_visible_to: their own
        reviews = list(user.access_reviews.all())
        rows.append(
            AccessRow(
                user=user,
                roles=sorted(role.value for role in user_roles(user)),
                regions=regions,
                granted_by=granted,
                last_sign_in=f"{user.last_login:%Y-%m-%d %H:%M}" if user.last_login else "never",
                second_factor=(
                    "identity provider"
                    if identities or scim is not None
                    else ("authenticator app" if user.pk in with_totp else "none")
                ),
                tokens=tokens,
                customer_regions=customers,
                facts=_facts_of(user, regions, facts, described),
                last_review=reviews[0] if reviews else None,
            )
        )
    return rows


def _facts_of(
    user: Any,
    regions: list[str],
    facts: list[registry.AccessFact],
    described: dict[tuple[Any, ...], dict[str, str]],
) -> dict[str, str]:
    """The apps' columns for ``user``. They follow from the roles and regions alone (the
    policy knows nothing else), so each combination is described once, not once a user."""
    key = (user_roles(user), tuple(regions), user.is_active)
    if key not in described:
        described[key] = {fact.label: fact.describe(user) for fact in facts}
    return described[key]


def open_revocations(actor: AnyUser) -> QuerySet[AccessReview]:
    _may_read(actor)
    return AccessReview.objects.filter(
        decision=AccessReview.REVOKE, resolved_at__isnull=True
    ).select_related("user", "reviewer")


def access_csv(actor: AnyUser) -> str:
    """The review as CSV (one line per account)."""
    rows = access_rows(actor)
    facts = [fact.label for fact in registry.access_facts()]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "user",
            "name",
            "active",
            "roles",
            "regions",
            "granted by",
            "last sign-in",
            "second factor",
            "API tokens",
            "customer regions",
            *facts,
            "last review",
        ]
    )
    for row in rows:
        review = row.last_review
        writer.writerow(
            [
                csv_safe(str(value))
                for value in (
                    row.user.get_username(),
                    row.user.get_full_name(),
                    "yes" if row.user.is_active else "no",
                    " ".join(row.roles),
                    " ".join(row.regions),
                    row.granted_by,
                    row.last_sign_in,
                    row.second_factor,
                    "; ".join(row.tokens),
                    row.customer_regions,
                    *(row.facts[label] for label in facts),
                    (
                        f"{review.decision} {review.created_at:%Y-%m-%d} by "
                        f"{review.reviewer.get_username()}"
                        if review
                        else ""
                    ),
                )
            ]
        )
    return out.getvalue()


@transaction.atomic
def access_review_record(
    *, actor: AnyUser, user: User, decision: str, comment: str = ""
) -> AccessReview:
    """Record a decision on ``user``'s access; "revoke" needs a comment saying what."""
    _may_read(actor)
    comment = (comment or "").strip()
    if decision not in (AccessReview.CERTIFIED, AccessReview.REVOKE):
        raise ValidationError({"decision": "Choose certified or revoke."})
    if decision == AccessReview.REVOKE and not comment:
        raise ValidationError({"comment": "Say what is to be revoked."})
    if len(comment) > MAX_COMMENT:
        raise ValidationError({"comment": f"At most {MAX_COMMENT} characters."})
    review = AccessReview.objects.create(
        user=user,
        reviewer=actor,  # type: ignore[misc]  # signed in: view_audit was checked
        decision=decision,
        comment=comment,
    )
    audit_event_record(
        action="access.reviewed",
        actor=actor,
        target=user,
        details={"review": review.pk, "decision": decision, "comment": comment},
    )
    return review


@transaction.atomic
def access_review_resolve(*, actor: AnyUser, review: AccessReview) -> AccessReview:
    """Who manages users marks a revocation done (after changing the access)."""
    if not can(actor, Action.MANAGE_USERS):
        raise PermissionDenied("Only who manages users carries out revocations.")
    review = AccessReview.objects.select_for_update().get(pk=review.pk)
    if review.decision != AccessReview.REVOKE or review.resolved_at is not None:
        raise ValidationError("This review has no open revocation.")
    review.resolved_at = timezone.now()
    review.resolved_by = actor  # type: ignore[assignment]
    review.save(update_fields=["resolved_at", "resolved_by"])
    audit_event_record(
        action="access.revocation_done",
        actor=actor,
        target=review.user,
        details={"review": review.pk},
    )
    return review
