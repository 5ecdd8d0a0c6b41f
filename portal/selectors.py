"""Reads of the portal app, always starting from what the user may see."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone

from portal.models import ApiToken, AuditEvent, Region
from portal.permissions import Action, can
from portal.services import token_key_hash
from portal.types import AnyUser


def audit_events_visible_to(user: AnyUser) -> QuerySet[AuditEvent]:
    """The whole trail for who may read it (view_audit); nothing for anyone else."""
    if not can(user, Action.VIEW_AUDIT):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def audit_event_list(
    *,
    user: AnyUser,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events matching the filters; only for users who may read the audit trail."""
    if not can(user, Action.VIEW_AUDIT):
        raise PermissionDenied("You may not read the audit trail.")
    events = AuditEvent.objects.all()
    if actor:
        events = events.filter(actor_username__iexact=actor)
    if action:
        events = events.filter(action__startswith=action)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    zone = timezone.get_current_timezone()
    if date_from:
        events = events.filter(created_at__gte=datetime.combine(date_from, time.min, zone))
    if date_to:
        events = events.filter(created_at__lte=datetime.combine(date_to, time.max, zone))
    return events


def audit_event_list_of_actor(*, user: AnyUser, limit: int = 10) -> list[AuditEvent]:
    """The user's own most recent events (everyone may see their own activity)."""
    if not user.is_authenticated:
        return []
    return list(AuditEvent.objects.filter(actor=user)[:limit])


def api_tokens_visible_to(user: AnyUser) -> QuerySet[ApiToken]:
    """Every token for who manages users; otherwise the user's own tokens."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    if can(user, Action.MANAGE_USERS):
        return ApiToken.objects.all()
    return ApiToken.objects.filter(user_id=user.pk)


def api_token_get_by_key(key: str) -> ApiToken | None:
    """The live token for ``key`` (not revoked, not expired, active user), or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_key_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None or (token.expires_at is not None and token.expires_at <= timezone.now()):
        return None
    return token


def region_get_by_code(code: str) -> Region | None:
    return Region.objects.filter(code=code).first()


def regions_by_code(codes: list[str]) -> dict[str, Region]:
    return {region.code: region for region in Region.objects.filter(code__in=codes)}


def region_first_of(ids: list[int]) -> Region | None:
    """The first (by code) of these regions: a stable choice among a user's regions."""
    return Region.objects.filter(pk__in=ids).order_by("code").first()
