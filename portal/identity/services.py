"""Single sign-on accounts: who the provider's user is here, and what their groups give.

A user signing in through the identity provider is found by the provider's issuer and
stable subject id (``ExternalIdentity``), never by e-mail; the first sign-in creates the
account (just in time, with no usable password). At every sign-in the roles and regions
are set to exactly what the user's groups map to (``GroupMapping``): a group removed at the
provider removes its access at the next sign-in. A user whose groups map to nothing gets
no access (and an audit event), not an empty portal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.models import ExternalIdentity, GroupMapping, Profile, Region, ScimAccount
from portal.permissions import STAFF_ROLES, Role, forget_roles
from portal.services import audit_event_record, user_set_roles
from portal.types import User

MAX_GROUPS = 500  # a groups claim longer than this is refused rather than processed
_ROLES = {role.value for role in STAFF_ROLES}  # never "customer"


class NoAccess(Exception):
    """The provider vouched for the user, but the portal gives them nothing (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grants:
    roles: frozenset[Role]
    regions: frozenset[Region]


def grants_of(groups: Iterable[str]) -> Grants:
    """The roles and regions ``groups`` map to."""
    rows = GroupMapping.objects.filter(group__in=list(groups)).select_related("region")
    roles = {Role(row.role) for row in rows if row.role in _ROLES}
    regions = {row.region for row in rows if row.region is not None}
    return Grants(frozenset(roles), frozenset(regions))


def _groups(claims: dict[str, Any], claim: str) -> list[str]:
    value = claims.get(claim, [])
    if isinstance(value, str):  # some providers send one group as a string
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        raise NoAccess("groups_claim_invalid")
    return sorted({item for item in value if isinstance(item, str) and item})


def _username_from(claims: dict[str, Any], claim: str) -> str:
    """A free username from the provider's (preferred_username, else e-mail's local part,
    else the subject): letters, digits and @.+-_ only, at most 150 characters."""
    raw = claims.get(claim) or str(claims.get("email", "")).split("@")[0] or claims["sub"]
    base = re.sub(r"[^\w.@+-]", "-", str(raw))[:140].strip("-") or "sso-user"
    user_model = get_user_model()
    name, n = base, 1
    while user_model.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def sso_sign_in(
    *, issuer: str, claims: dict[str, Any], groups_claim: str, username_claim: str
) -> User:
    """The account of the provider's user, its roles and regions re-synced from their groups.

    Raises ``NoAccess`` when the groups give no role or the account was deactivated here;
    the refusal (and the removal of the roles the groups no longer give) is committed and
    audited first.
    """
    user, refusal = _sync(
        issuer=issuer, claims=claims, groups_claim=groups_claim, username_claim=username_claim
    )
    if user is None:
        raise NoAccess(refusal)
    return user


@transaction.atomic
def _sync(
    *, issuer: str, claims: dict[str, Any], groups_claim: str, username_claim: str
) -> tuple[User | None, str]:
    subject = str(claims["sub"])
    try:
        groups = _groups(claims, groups_claim)
    except NoAccess:
        _refused(issuer, subject, [], "groups_claim_invalid")
        return None, "groups_claim_invalid"
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    ) or _provisioned_identity(issuer, subject, claims)
    account = _provisioned(identity.user) if identity is not None else None
    if account is not None:  # provisioned (SCIM): its SCIM groups decide, not the claim
        claim = settings.OIDC_SCIM_MATCH_CLAIM
        if claim and claims.get(claim) != account.external_id:
            # The link was made for another externalId: the provider no longer vouches
            # that this person is this account.
            _refused(issuer, subject, groups, "identity_mismatch", account.user)
            return None, "identity_mismatch"
        groups = scim_groups_of(account)
    elif identity is None and not settings.OIDC_JIT_ACCOUNTS:
        _refused(issuer, subject, groups, "no_account")
        return None, "no_account"
    grants = grants_of(groups)
    if identity is not None and not identity.user.is_active:
        _refused(issuer, subject, groups, "account_disabled", identity.user)
        return None, "account_disabled"
    if not grants.roles:
        if identity is not None:  # the groups went: so does the access
            user_set_roles(user=identity.user, roles=[])
            set_regions(identity.user, [])
            identity.groups = groups
            identity.save(update_fields=["groups"])
        _refused(issuer, subject, groups, "no_mapped_group", identity.user if identity else None)
        return None, "no_mapped_group"
    created = identity is None
    if identity is None:
        user = get_user_model().objects.create(
            username=_username_from(claims, username_claim), is_active=True
        )
        user.set_unusable_password()  # only the provider signs this account in
        identity = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    user = identity.user
    if account is None:  # a provisioned account's names come from SCIM
        user.email = str(claims.get("email", ""))[:254]
        user.first_name = str(claims.get("given_name", ""))[:150]
        user.last_name = str(claims.get("family_name", ""))[:150]
        try:
            user.full_clean(exclude=["password", "username"])
        except ValidationError:
            user.email = ""  # a malformed address is not kept
        user.save()
    user_set_roles(user=user, roles=grants.roles)
    set_regions(user, grants.regions)
    identity.groups = groups
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["groups", "last_sign_in_at"])
    audit_event_record(
        action="auth.sso_login",
        actor=user,
        target=user,
        details={
            "issuer": issuer,
            "subject": subject,
            "created": created,
            "groups": groups,
            "roles": sorted(role.value for role in grants.roles),
            "regions": sorted(region.code for region in grants.regions),
        },
    )
    return user, ""


def scim_groups_of(account: ScimAccount) -> list[str]:
    """The names of the provider's groups (SCIM) ``account`` is a member of."""
    return sorted(account.groups.values_list("display_name", flat=True))


def _provisioned(user: User) -> ScimAccount | None:
    return ScimAccount.objects.filter(user=user, deleted_at__isnull=True).first()


def _provisioned_identity(
    issuer: str, subject: str, claims: dict[str, Any]
) -> ExternalIdentity | None:
    """The first sign-in of an account the provider provisioned (SCIM): the ID token's
    ``OIDC_SCIM_MATCH_CLAIM`` (e.g. Entra's ``oid``) equals the account's SCIM externalId,
    which is unique among provisioned accounts. Never matched by e-mail or user name."""
    claim = settings.OIDC_SCIM_MATCH_CLAIM
    value = claims.get(claim) if claim else None
    if not isinstance(value, str) or not value:
        return None
    account = (
        ScimAccount.objects.select_related("user")
        .filter(external_id=value, deleted_at__isnull=True)
        .first()
    )
    if account is None or account.user.external_identities.filter(issuer=issuer).exists():
        return None  # none, or already linked to another subject of this provider
    return ExternalIdentity.objects.create(user=account.user, issuer=issuer, subject=subject)


def set_regions(user: User, regions: Iterable[Region]) -> None:
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.regions.set(list(regions))
    forget_roles(user)


def _refused(
    issuer: str, subject: str, groups: list[str], reason: str, user: User | None = None
) -> None:
    audit_event_record(
        action="auth.sso_refused",
        actor=user,
        actor_username="" if user else f"sso:{subject}"[:150],
        target=user,
        target_type="" if user else "auth.user",
        details={"issuer": issuer, "subject": subject, "groups": groups, "reason": reason},
    )


def sso_failed(*, code: str, detail: str) -> None:
    """Audit a sign-in the provider's answer could not complete (bad token, state ...)."""
    audit_event_record(
        action="auth.sso_failed",
        actor_username="sso",
        details={"reason": code, "detail": detail[:300]},
    )


@transaction.atomic
def group_mappings_seed(spec: str) -> int:
    """Create the mappings of ``spec`` ("group=role[:region],..."; OIDC_GROUP_MAP) that do
    not exist yet; the admin's edits are kept. Returns how many were created."""
    created = 0
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        group, _, grant = item.partition("=")
        role, _, region_code = grant.partition(":")
        group, role, region_code = group.strip(), role.strip(), region_code.strip()
        if not group or (role and role not in _ROLES) or not (role or region_code):
            raise ValidationError(f"OIDC_GROUP_MAP: cannot read {item!r} (group=role[:region]).")
        region = None
        if region_code:
            region = Region.objects.filter(code=region_code).first()
            if region is None:
                raise ValidationError(f"OIDC_GROUP_MAP: no region {region_code!r} ({item!r}).")
        _, made = GroupMapping.objects.get_or_create(group=group, role=role, region=region)
        created += made
    return created
