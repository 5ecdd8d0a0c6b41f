"""A user's own sessions: see them, end one, end all the others."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.permissions import Action
from portal.sessions import session_end, sessions_of, user_sessions_end
from portal.validation import parse_id
from portal.views.decorators import require_action


@require_action(Action.USE_PORTAL)
def session_list(request: HttpRequest) -> HttpResponse:
    current = request.session.session_key
    rows = list(sessions_of(request.user))
    context = {
        "sessions": rows,
        "current_key": current,
        "others": sum(row.session_key != current for row in rows),
        "idle_minutes": settings.SESSION_IDLE_TIMEOUT_MINUTES,
    }
    return render(request, "registration/sessions.html", context)


@require_POST
@require_action(Action.USE_PORTAL)
def session_end_view(request: HttpRequest, pk: str) -> HttpResponse:
    number = parse_id(pk)
    session = sessions_of(request.user).filter(pk=number).first() if number is not None else None
    if session is None:
        raise Http404("No such session.")
    session_end(session=session, actor=request.user, reason="ended_by_user")
    if session.session_key == request.session.session_key:
        return redirect("login")  # this very session: signed out
    messages.success(request, "The session was ended.")
    return redirect("session_list")


@require_POST
@require_action(Action.USE_PORTAL)
def session_end_others(request: HttpRequest) -> HttpResponse:
    ended = user_sessions_end(
        user=request.user,  # type: ignore[arg-type]  # signed in: require_action
        actor=request.user,
        reason="ended_by_user",
        keep_key=request.session.session_key,
    )
    messages.success(request, f"Ended {ended} other session{'s' if ended != 1 else ''}.")
    return redirect("session_list")
