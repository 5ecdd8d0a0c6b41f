"""Provisioning by the identity provider (SCIM 2.0): the writes behind /scim/v2/.

The provider creates, updates and deactivates staff accounts and pushes its groups with their
members; a provisioned account's roles and regions are exactly what its groups map to
(``GroupMapping``, the same mapping single sign-on uses), re-synced whenever a membership
changes. Deactivation (``active: false``, or a SCIM DELETE) takes effect at once
(``account_deactivate``): the sessions end, the API tokens are revoked and the leaver's open
work goes back to its queues (each app's ``DeactivationStep``). Accounts are never deleted:
the audit trail names them. Every write is audited with the provisioning client's name.

These functions know nothing of the SCIM protocol (``portal.identity.scim`` translates):
they take plain values and raise ``Conflict`` (a unique value taken), ``ValidationError``
(a value the portal cannot keep) or ``ScimAccount.DoesNotExist`` / ``ScimGroup.DoesNotExist``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal import registry
from portal.identity.services import Grants, grants_of, scim_groups_of, set_regions
from portal.models import ApiToken, ExternalIdentity, ScimAccount, ScimGroup, ScimToken
from portal.permissions import Role
from portal.services import (
    TOKEN_PREFIX_LENGTH,
    api_token_revoke,
    audit_event_record,
    token_key_hash,
    user_set_roles,
)
from portal.sessions import user_sessions_end
from portal.types import AnyUser, User

MAX_MEMBERS = 50_000  # members in one group write; a larger list is refused
MAX_EMAILS = 10


class Conflict(Exception):
    """A value that must be unique (a user name, a group's name) is taken."""


@dataclass
class UserData:
    user_name: str
    active: bool = True
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    external_id: str = ""
    emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GroupData:
    display_name: str
    external_id: str = ""
    member_ids: list[str] = field(default_factory=list)  # the members' SCIM ids


def _client_label(token: ScimToken) -> str:
    return f"scim:{token.name}"[:150]


# --- the provisioning client's token ----------------------------------------------------


@transaction.atomic
def scim_token_create(*, name: str, actor: AnyUser | None = None) -> tuple[ScimToken, str]:
    """A bearer token for the provider's provisioning client; returns the row and the token,
    which is never stored (only its SHA-256)."""
    key = secrets.token_urlsafe(32)
    token = ScimToken(name=name, prefix=key[:TOKEN_PREFIX_LENGTH], key_hash=token_key_hash(key))
    token.full_clean()
    token.save()
    audit_event_record(
        action="scim.token_created",
        actor=actor,
        actor_username="" if actor else "system",
        target=token,
        details={"name": name, "prefix": token.prefix},
    )
    return token, key


@transaction.atomic
def scim_token_revoke(*, token: ScimToken, actor: AnyUser | None = None) -> ScimToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(
            action="scim.token_revoked",
            actor=actor,
            actor_username="" if actor else "system",
            target=token,
            details={"name": token.name, "prefix": token.prefix},
        )
    return token


def scim_token_authenticate(key: str) -> ScimToken | None:
    """The live token for ``key``, its use recorded (at most once a minute), or None."""
    token = ScimToken.objects.filter(key_hash=token_key_hash(key), revoked_at__isnull=True).first()
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
    return token


# --- deactivation -------------------------------------------------------------------------


@transaction.atomic
def account_deactivate(
    *, user: User, actor_label: str, actor: AnyUser | None = None, reason: str
) -> dict[str, int]:
    """Deactivate ``user`` now: signed out everywhere, API tokens revoked, open hand-offs
    and reviews back in their queues. Audited (``auth.account_deactivated``, with counts).
    Returns the counts."""
    user_model = get_user_model()
    user = user_model.objects.select_for_update().get(pk=user.pk)
    user.is_active = False
    user.save(update_fields=["is_active"])
    # Deactivated by the portal's administrators, not the provider: SCIM may not undo it.
    ScimAccount.objects.filter(user=user).update(admin_hold=not actor_label.startswith("scim:"))
    counts = {
        "sessions_ended": user_sessions_end(user=user, actor=actor, reason="account_deactivated")
    }
    tokens = 0
    for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True):
        api_token_revoke(token=token, actor=None)
        tokens += 1
    counts["api_tokens_revoked"] = tokens
    for step in registry.deactivation_steps():
        counts[step.name] = step.run(user, actor_label)
    audit_event_record(
        action="auth.account_deactivated",
        actor=actor,
        actor_username="" if actor else actor_label,
        target=user,
        details={"reason": reason, **counts},
    )
    return counts


def _reactivate(user: User, actor_label: str) -> None:
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_event_record(
        action="auth.account_reactivated", actor_username=actor_label, target=user, details={}
    )


# --- users -------------------------------------------------------------------------------


def _clean_user(data: UserData) -> UserData:
    name = data.user_name.strip()
    errors: dict[str, str] = {}
    if not name or len(name) > 150:
        errors["userName"] = "A user name of 1 to 150 characters is required."
    else:
        try:
            # ASCII only: no look-alike of another account's name (a Cyrillic or
            # full-width letter, the Kelvin sign) in the audit trail and the admin.
            ASCIIUsernameValidator()(name)
        except ValidationError:
            errors["userName"] = "ASCII letters, digits and @ . + - _ only."
    for label, value in (
        ("name.givenName", data.given_name),
        ("name.familyName", data.family_name),
    ):
        if len(value) > 150:
            errors[label] = "At most 150 characters."
    if len(data.display_name) > 255 or len(data.external_id) > 255:
        errors["displayName"] = "At most 255 characters."
    if len(data.emails) > MAX_EMAILS:
        errors["emails"] = f"At most {MAX_EMAILS} addresses."
    emails = []
    for item in data.emails[:MAX_EMAILS]:
        value = str(item.get("value") or "").strip()
        try:
            validate_email(value)
        except ValidationError:
            errors["emails"] = f"Not an e-mail address: {value[:80]!r}."
            continue
        emails.append(
            {
                "value": value[:254],
                "type": str(item.get("type") or "")[:32],
                "primary": bool(item.get("primary")),
            }
        )
    if errors:
        raise ValidationError(errors)
    return UserData(
        user_name=name,
        active=data.active,
        given_name=data.given_name,
        family_name=data.family_name,
        display_name=data.display_name,
        external_id=data.external_id,
        emails=emails,
    )


def _primary_email(emails: list[dict[str, Any]]) -> str:
    primary = [item["value"] for item in emails if item.get("primary")]
    return (primary or [item["value"] for item in emails] or [""])[0]


def _write_user(account: ScimAccount, user: User, data: UserData) -> bool:
    """Save the account as ``data`` says; True when its externalId changed (an SSO link
    made with the old one no longer holds)."""
    taken = get_user_model().objects.filter(username__iexact=data.user_name)
    if user.pk is not None:
        taken = taken.exclude(pk=user.pk)
    if taken.exists():
        raise Conflict(f"The user name {data.user_name!r} is taken.")
    if (
        data.external_id
        and ScimAccount.objects.filter(external_id=data.external_id, deleted_at__isnull=True)
        .exclude(pk=account.pk)
        .exists()
    ):
        raise Conflict(f"The externalId {data.external_id!r} is another account's.")
    user.username = data.user_name
    user.first_name = data.given_name
    user.last_name = data.family_name
    user.email = _primary_email(data.emails)
    user.save()
    account.user = user
    relinked = bool(account.pk) and account.external_id != data.external_id
    account.external_id = data.external_id
    account.display_name = data.display_name
    account.emails = data.emails
    account.save()
    return relinked


def _user_details(data: UserData) -> dict[str, Any]:
    return {"user_name": data.user_name, "external_id": data.external_id, "active": data.active}


@transaction.atomic
def scim_user_create(*, token: ScimToken, data: UserData) -> ScimAccount:
    """A new account, with no usable password (the provider signs it in) and no role until
    a group that maps to one lists it."""
    data = _clean_user(data)
    if get_user_model().objects.filter(username__iexact=data.user_name).exists():
        raise Conflict(f"The user name {data.user_name!r} is taken.")
    user = get_user_model()(username=data.user_name, is_active=data.active)
    user.set_unusable_password()
    account = ScimAccount(scim_id=uuid.uuid4())
    _write_user(account, user, data)
    _sync_access([account])
    audit_event_record(
        action="scim.user_created",
        actor_username=_client_label(token),
        target=user,
        details=_user_details(data),
    )
    return account


@transaction.atomic
def scim_user_update(*, token: ScimToken, account: ScimAccount, data: UserData) -> ScimAccount:
    """Replace what the provider says of the account (PUT, and PATCH after it is applied).
    ``active`` false deactivates it at once; true reactivates it."""
    data = _clean_user(data)
    account = ScimAccount.objects.select_for_update().select_related("user").get(pk=account.pk)
    user = account.user
    was_active = user.is_active
    if data.active and not was_active and account.admin_hold:
        raise ValidationError(
            {
                "active": "The portal's administrators deactivated this account; only they can "
                "reactivate it (in the admin)."
            }
        )
    relinked = _write_user(account, user, data)
    ScimAccount.objects.filter(pk=account.pk).update(version=F("version") + 1)
    label = _client_label(token)
    audit_event_record(
        action="scim.user_updated",
        actor_username=label,
        target=user,
        details={**_user_details(data), "external_id_changed": relinked},
    )
    if relinked:
        # The single sign-on link was made with the old externalId: it goes, with the
        # sessions it opened; the next sign-in links again by the new one.
        ExternalIdentity.objects.filter(user=user).delete()
        user_sessions_end(user=user, actor=None, reason="external_id_changed")
    if was_active and not data.active:
        account_deactivate(user=user, actor_label=label, reason="scim_active_false")
    elif data.active and not was_active:
        _reactivate(user, label)
    account.refresh_from_db()
    return account


@transaction.atomic
def scim_user_delete(*, token: ScimToken, account: ScimAccount) -> None:
    """What the provider calls a deletion: the account is deactivated, leaves its groups
    (so loses its roles) and is no longer seen by SCIM; the row stays for the audit trail."""
    account = ScimAccount.objects.select_for_update().select_related("user").get(pk=account.pk)
    label = _client_label(token)
    if account.user.is_active:
        account_deactivate(user=account.user, actor_label=label, reason="scim_delete")
    for group in account.groups.all():
        group.members.remove(account)
        ScimGroup.objects.filter(pk=group.pk).update(version=F("version") + 1)
    account.deleted_at = timezone.now()
    account.save(update_fields=["deleted_at"])
    _sync_access([account])
    audit_event_record(
        action="scim.user_deleted",
        actor_username=label,
        target=account.user,
        details={"user_name": account.user.get_username()},
    )


# --- groups ------------------------------------------------------------------------------


def _members(member_ids: Iterable[str]) -> list[ScimAccount]:
    wanted = list(dict.fromkeys(member_ids))
    if len(wanted) > MAX_MEMBERS:
        raise ValidationError({"members": f"At most {MAX_MEMBERS} members in one request."})
    ids = []
    for value in wanted:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            raise ValidationError({"members": f"No user with the id {value!r}."}) from None
    found = list(ScimAccount.objects.filter(scim_id__in=ids, deleted_at__isnull=True))
    if len(found) != len(ids):
        missing = sorted({str(i) for i in ids} - {str(a.scim_id) for a in found})
        raise ValidationError({"members": f"No user with the id {missing[0]!r}."})
    return found


def _clean_group(data: GroupData) -> GroupData:
    name = data.display_name.strip()
    if not name or len(name) > 255:
        raise ValidationError({"displayName": "A group name of 1 to 255 characters is required."})
    if len(data.external_id) > 255:
        raise ValidationError({"externalId": "At most 255 characters."})
    return GroupData(name, data.external_id, data.member_ids)


def _write_group(group: ScimGroup, data: GroupData) -> set[int]:
    """Save ``group`` as ``data`` says; returns the ids of the accounts whose membership
    changed."""
    if ScimGroup.objects.filter(display_name=data.display_name).exclude(pk=group.pk).exists():
        raise Conflict(f"The group name {data.display_name!r} is taken.")
    members = _members(data.member_ids)
    group.display_name = data.display_name
    group.external_id = data.external_id
    group.save()
    before = set(group.members.values_list("pk", flat=True))
    after = {account.pk for account in members}
    group.members.remove(*(before - after))
    group.members.add(*(after - before))
    changed = before ^ after
    ScimAccount.objects.filter(pk__in=changed).update(version=F("version") + 1)
    return changed


def _group_details(group: ScimGroup, changed: set[int]) -> dict[str, Any]:
    return {
        "group": group.display_name,
        "external_id": group.external_id,
        "members": group.members.count(),
        "members_changed": len(changed),
    }


@transaction.atomic
def scim_group_create(*, token: ScimToken, data: GroupData) -> ScimGroup:
    data = _clean_group(data)
    group = ScimGroup(scim_id=uuid.uuid4())
    changed = _write_group(group, data)
    _sync_access(ScimAccount.objects.filter(pk__in=changed))
    audit_event_record(
        action="scim.group_created",
        actor_username=_client_label(token),
        target=group,
        details=_group_details(group, changed),
    )
    return group


@transaction.atomic
def scim_group_update(*, token: ScimToken, group: ScimGroup, data: GroupData) -> ScimGroup:
    """Replace the group's name and members; the members whose membership changed (all of
    them when the name changed: it is what the mapping names) get their access re-synced."""
    data = _clean_group(data)
    group = ScimGroup.objects.select_for_update().get(pk=group.pk)
    renamed = group.display_name != data.display_name
    changed = _write_group(group, data)
    ScimGroup.objects.filter(pk=group.pk).update(version=F("version") + 1)
    resync = set(group.members.values_list("pk", flat=True)) | changed if renamed else changed
    _sync_access(ScimAccount.objects.filter(pk__in=resync))
    audit_event_record(
        action="scim.group_updated",
        actor_username=_client_label(token),
        target=group,
        details={**_group_details(group, changed), "renamed": renamed},
    )
    group.refresh_from_db()
    return group


@transaction.atomic
def scim_group_delete(*, token: ScimToken, group: ScimGroup) -> None:
    group = ScimGroup.objects.select_for_update().get(pk=group.pk)
    members = list(group.members.all())
    name = group.display_name
    audit_event_record(
        action="scim.group_deleted",
        actor_username=_client_label(token),
        target=group,
        details={"group": name, "members": len(members)},
    )
    group.delete()
    ScimAccount.objects.filter(pk__in=[m.pk for m in members]).update(version=F("version") + 1)
    _sync_access(members)


# --- access from groups ------------------------------------------------------------------


def _sync_access(accounts: Iterable[ScimAccount]) -> None:
    """Set each account's roles and regions to what its groups map to; audit the changes."""
    for account in accounts:
        user = account.user
        groups = [] if account.deleted_at else scim_groups_of(account)
        grants = grants_of(groups)
        grantable = set(settings.SCIM_GRANTABLE_ROLES)
        grants = Grants(
            frozenset(role for role in grants.roles if role.value in grantable), grants.regions
        )
        roles = sorted(role.value for role in grants.roles)
        regions = sorted(region.code for region in grants.regions)
        profile = getattr(user, "profile", None)
        before_roles = sorted(
            user.groups.filter(name__in=[role.value for role in Role]).values_list(
                "name", flat=True
            )
        )
        before_regions = sorted(profile.regions.values_list("code", flat=True)) if profile else []
        user_set_roles(user=user, roles=grants.roles)
        set_regions(user, grants.regions)
        if (before_roles, before_regions) != (roles, regions):
            audit_event_record(
                action="scim.access_synced",
                actor_username="scim",
                target=user,
                details={"groups": groups, "roles": roles, "regions": regions},
            )
