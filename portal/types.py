"""Types shared by every app: who is asking.

``User`` is the account model (Django's default ``auth.User``); ``AnyUser`` is whatever
``request.user`` may be, signed in or not. The permission policy accepts ``AnyUser`` and
answers "no" for anonymous users, so selectors and services take ``AnyUser`` too.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as User

AnyUser: TypeAlias = User | AnonymousUser

__all__ = ["AnyUser", "User", "account_of"]


def account_of(user: AnyUser | None) -> User | None:
    """The account behind ``user`` to store on a row (an uploader), or None (anonymous, system)."""
    return user if isinstance(user, User) else None
