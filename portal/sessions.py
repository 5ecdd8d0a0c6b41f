"""Session control: the limits every signed-in session lives under, and ending sessions.

Each sign-in records a ``UserSession`` (when, from where, the browser). A session ends
after ``SESSION_IDLE_TIMEOUT_MINUTES`` without a request and ``SESSION_ABSOLUTE_HOURS``
after its sign-in, whatever the activity; its user (the "your sessions" page) or whoever
manages users (the admin) can end it at once. Ending a session deletes it from Django's
session store, so the next request with its cookie is anonymous. Every end is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from portal import request_context
from portal.models import UserSession
from portal.permissions import Action, can
from portal.services import audit_event_record
from portal.types import AnyUser, User

STARTED = "portal_session_started"
SEEN = "portal_session_seen"
SEEN_EVERY = timedelta(seconds=60)  # how often a request writes its session's last use


def _store(session_key: str) -> Any:
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key=session_key)


def _limits() -> tuple[timedelta | None, timedelta | None]:
    idle = settings.SESSION_IDLE_TIMEOUT_MINUTES
    absolute = settings.SESSION_ABSOLUTE_HOURS
    return (
        timedelta(minutes=idle) if idle > 0 else None,
        timedelta(hours=absolute) if absolute > 0 else None,
    )


def session_started(request: HttpRequest, user: User) -> UserSession | None:
    """Record the session a sign-in just made (called on ``user_logged_in``)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    if session.session_key is None:
        session.save()
    now = timezone.now()
    session[STARTED] = now.timestamp()
    session[SEEN] = now.timestamp()
    record, _ = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "last_seen_at": now,
            "ip_address": request_context.current().ip_address,
            "user_agent": request.headers.get("User-Agent", "")[:300],
        },
    )
    return record


def session_check(request: HttpRequest) -> str:
    """For a signed-in request: "" if its session may go on (its last use recorded now and
    then), else why it ends ("idle", "absolute")."""
    session = request.session
    now = timezone.now()
    started = _time(session.get(STARTED)) or now
    seen = _time(session.get(SEEN)) or now
    idle, absolute = _limits()
    if idle is not None and now - seen > idle:
        return "idle"
    if absolute is not None and now - started > absolute:
        return "absolute"
    if STARTED not in session:  # a session from before this control: it starts now
        session[STARTED] = now.timestamp()
    if SEEN not in session or now - seen >= SEEN_EVERY:
        session[SEEN] = now.timestamp()
        key = session.session_key
        if key:
            updated = UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(
                last_seen_at=now
            )
            if not updated:
                UserSession.objects.update_or_create(
                    session_key=key,
                    defaults={
                        "user_id": request.user.pk,
                        "last_seen_at": now,
                        "ip_address": request_context.current().ip_address,
                        "user_agent": request.headers.get("User-Agent", "")[:300],
                    },
                )
    return ""


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=timezone.get_current_timezone())
    return None


def sessions_active(queryset: QuerySet[UserSession] | None = None) -> QuerySet[UserSession]:
    """Sessions not ended and still within their limits (others are dead already)."""
    rows = UserSession.objects.all() if queryset is None else queryset
    now = timezone.now()
    idle, absolute = _limits()
    rows = rows.filter(ended_at__isnull=True)
    if idle is not None:
        rows = rows.filter(last_seen_at__gte=now - idle - SEEN_EVERY)
    if absolute is not None:
        rows = rows.filter(created_at__gte=now - absolute)
    oldest = now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return rows.filter(created_at__gte=oldest).select_related("user").order_by("-last_seen_at")


def sessions_of(user: AnyUser) -> QuerySet[UserSession]:
    """The user's own live sessions."""
    if not user.is_authenticated:
        return UserSession.objects.none()
    return sessions_active(UserSession.objects.filter(user_id=user.pk))


def sessions_visible_to(actor: AnyUser) -> QuerySet[UserSession]:
    """Every live session for who manages users; one's own for everyone else."""
    if can(actor, Action.MANAGE_USERS):
        return sessions_active()
    return sessions_of(actor)


@transaction.atomic
def session_end(*, session: UserSession, actor: AnyUser | None, reason: str) -> None:
    """End ``session`` now: deleted from the session store, recorded, audited."""
    _store(session.session_key).delete()
    UserSession.objects.filter(pk=session.pk).update(ended_at=timezone.now(), end_reason=reason)
    audit_event_record(
        action="auth.session_ended",
        actor=actor,
        actor_username="" if actor else "system",
        target=session.user,
        details={"session": session.pk, "reason": reason},
    )


def user_sessions_end(
    *, user: User, actor: AnyUser | None, reason: str, keep_key: str | None = None
) -> int:
    """End every live session of ``user`` (but ``keep_key``'s); returns how many."""
    ended = 0
    for session in sessions_active(UserSession.objects.filter(user=user)):
        if session.session_key != keep_key:
            session_end(session=session, actor=actor, reason=reason)
            ended += 1
    return ended


def session_expired(request: HttpRequest, reason: str) -> None:
    """Record that the limits ended the request's session (the caller signs it out)."""
    key = request.session.session_key
    UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=reason
    )
    audit_event_record(
        action="auth.session_expired",
        actor=request.user,
        target_type="auth.user",
        target_id=str(request.user.pk),
        details={"reason": reason},
    )
