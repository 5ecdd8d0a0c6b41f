"""Writes of the portal app: the audit trail, users and roles, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from portal import metrics, request_context
from portal.audit import minimised
from portal.audit_chain import seal_on_commit
from portal.models import TOKEN_SCOPES, ApiToken, AuditEvent, DataKey, Profile, Region
from portal.permissions import Role, can_act_for, forget_roles, is_customer
from portal.types import AnyUser
from portal.types import User as Account

User = get_user_model()

TOKEN_PREFIX_LENGTH = 8


def audit_event_record(
    *,
    action: str,
    actor: AnyUser | None = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    details: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event to the audit trail; request id and IP come from the request context.

    ``details`` never keeps typed text: the values of ``portal.audit.TYPED_KEYS`` (query,
    question, arguments, citations, comment, notes, filename) and of ``typed(...)`` are
    stored as fingerprints (``portal.audit``: the trail is append-only and never rotated).
    """
    context = request_context.current()
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    known_actor = actor if actor is not None and actor.is_authenticated else None
    details = dict(details or {})
    if context.client_request_id:
        # The client's own X-Request-ID (checked: [A-Za-z0-9._-]{1,64}), kept for correlation;
        # request_id is always ours.
        details.setdefault("client_request_id", context.client_request_id)
    event = AuditEvent(
        actor=known_actor,
        actor_username=actor_username or (known_actor.get_username() if known_actor else ""),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        request_id=context.request_id,
        ip_address=context.ip_address,
        details=minimised(details),
    )
    event.full_clean()
    event.save()
    # Counted once the event is committed (portal_audit_events_total{action}), and given
    # its place in the hash chain just after (portal.audit_chain).
    transaction.on_commit(partial(metrics.audit_event_observe, action), robust=True)
    seal_on_commit(event.pk)
    return event


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *,
    user: AnyUser,
    name: str,
    expires_at: datetime | None = None,
    created_by: Any = None,
    scopes: Iterable[str] | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token for ``user``; returns the row and the key, which is never stored.

    ``created_by`` (None: the system, e.g. a management command) must be ``user`` or manage
    users (``can_act_for``). ``scopes``: of ``TOKEN_SCOPES`` (None: API_TOKEN_DEFAULT_SCOPES).
    ``expires_at`` (None: in API_TOKEN_DEFAULT_DAYS) at most API_TOKEN_MAX_DAYS away.
    """
    if created_by is not None and not can_act_for(created_by, user):
        raise PermissionDenied("You may not create API tokens for another user.")
    if not user.is_active:
        raise ValidationError("Cannot create a token for an inactive user.")
    if is_customer(user) and not settings.CUSTOMER_API_TOKENS:
        raise ValidationError("API tokens are not issued to customers (CUSTOMER_API_TOKENS).")
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    if expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if expires_at > now + timedelta(days=settings.API_TOKEN_MAX_DAYS, minutes=1):
        raise ValidationError(
            {"expires_at": f"A token may live at most {settings.API_TOKEN_MAX_DAYS} days."}
        )
    chosen = sorted(set(settings.API_TOKEN_DEFAULT_SCOPES if scopes is None else scopes))
    unknown = [scope for scope in chosen if scope not in TOKEN_SCOPES]
    if unknown or not chosen:
        raise ValidationError(
            {"scopes": f"Choose one or more of {', '.join(TOKEN_SCOPES)} (not {unknown})."}
        )
    key = secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=key[:TOKEN_PREFIX_LENGTH],
        key_hash=_hash_key(key),
        expires_at=expires_at,
        scopes=chosen,
    )
    token.full_clean()
    token.save()
    audit_event_record(
        action="api_token.created",
        actor=created_by,
        actor_username="" if created_by else "system",
        target=token,
        details={
            "user": user.get_username(),
            "name": name,
            "prefix": token.prefix,
            "scopes": chosen,
            "expires_at": expires_at.isoformat(),
        },
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: AnyUser | None = None) -> ApiToken:
    """Revoke ``token``; further requests with it are refused. ``actor`` (None: the system)
    must be the token's user or manage users."""
    if actor is not None and not can_act_for(actor, token.user):
        raise PermissionDenied("You may not revoke another user's API token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(
            action="api_token.revoked", actor=actor, target=token, details={"prefix": token.prefix}
        )
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record use of ``token``, at most once a minute to spare the database."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def token_key_hash(key: str) -> str:
    return _hash_key(key)


@transaction.atomic
def region_ensure(*, code: str, name: str) -> Region:
    """Create or rename the region ``code``."""
    region, _ = Region.objects.update_or_create(code=code, defaults={"name": name})
    return region


@transaction.atomic
def user_ensure(
    *,
    username: str,
    password: str,
    roles: Iterable[Role],
    regions: Iterable[Region] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> tuple[Any, bool]:
    """Create ``username`` or bring it to the given roles and regions; True when created.

    The password is only (re)set when it differs, so existing sessions survive a re-run.
    """
    user, created = User.objects.get_or_create(username=username)
    user.email = email
    user.first_name = first_name
    user.last_name = last_name
    user.is_staff = is_staff
    user.is_superuser = is_superuser
    user.is_active = True
    if created or not user.check_password(password):
        user.set_password(password)
    user.full_clean()
    user.save()
    user_set_roles(user=user, roles=roles)
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.regions.set(list(regions))
    forget_roles(user)
    return user, created


@transaction.atomic
def role_groups_ensure() -> None:
    """Make sure every role has its group, holding the model permissions the apps register
    for it (``portal.registry.register_model_grant``; others are left alone). Run after every
    ``migrate`` (and after a test database flush, which empties the groups that the
    migrations created): the roles in code are the source of truth, and a group deleted by
    hand comes back."""
    from portal.registry import model_grants  # the apps' registrations (portal.hooks)

    groups = {role.value: Group.objects.get_or_create(name=role.value)[0] for role in Role}
    for grant in model_grants():
        codenames = [f"{action}_{grant.model}" for action in grant.actions]
        wanted = Permission.objects.filter(
            content_type__app_label=grant.app_label,
            content_type__model=grant.model,
            codename__in=codenames,
        )
        groups[Role(grant.role).value].permissions.add(*wanted)


@transaction.atomic
def user_set_roles(*, user: Account, roles: Iterable[Role]) -> None:
    """Make ``user``'s role groups exactly ``roles`` (other groups are left alone)."""
    wanted = {Role(role).value for role in roles}
    if Role.CUSTOMER.value in wanted and len(wanted) > 1:
        # A customer account is confined to /secure/; a person who is both uses two accounts.
        raise ValueError("The customer role is never given together with a staff role.")
    role_names = {role.value for role in Role}
    current = set(user.groups.filter(name__in=role_names).values_list("name", flat=True))
    if current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    if wanted - current:
        # The data migration creates the groups; a flushed database (transactional
        # tests) gets them back here, since the Role enum is their source of truth.
        groups = [Group.objects.get_or_create(name=name)[0] for name in sorted(wanted - current)]
        user.groups.add(*groups)
    forget_roles(user)


# --- data keys (crypto-shredding, portal.crypto) ---------------------------------------------


def data_keys_create(subject_type: str, count: int = 1) -> list[DataKey]:
    """``count`` new data keys for subjects of ``subject_type`` not saved yet (bind them
    with ``data_keys_bind`` once they have ids)."""
    return DataKey.objects.bulk_create([DataKey.new(subject_type) for _ in range(count)])


def data_keys_bind(pairs: list[tuple[int | None, int]]) -> None:
    """Record which subject each key is of: ``[(key id, subject id)]``."""
    keys = [DataKey(pk=key_id, subject_id=subject_id) for key_id, subject_id in pairs if key_id]
    DataKey.objects.bulk_update(keys, ["subject_id"], batch_size=1000)
