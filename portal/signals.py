"""Audit hooks for authentication and admin changes; profiles for new users."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.apps import AppConfig, apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver

from portal import request_context
from portal.identity.services import group_mappings_seed
from portal.mfa import STATE as MFA_STATE
from portal.mfa import state_after_password_sign_in
from portal.models import Profile
from portal.services import audit_event_record, role_groups_ensure
from portal.sessions import session_started
from portal.types import User


@receiver(user_logged_in)
def _audit_login(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    request_context.update(user_id=user.pk)
    audit_event_record(action="auth.login", actor=user, target=user)
    if request is not None:
        session_started(request, user)  # "your sessions", and the session's limits
        # What MFA still needs (single sign-on clears it: the provider did its own).
        request.session[MFA_STATE] = state_after_password_sign_in(user)


@receiver(user_logged_out)
def _audit_logout(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit_event_record(action="auth.logout", actor=user, target=user)


@receiver(user_login_failed)
def _audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    # credentials are already cleansed of the password by Django.
    username = str(credentials.get("username", ""))[:150]
    audit_event_record(
        action="auth.login_failed", actor_username=username, details={"username": username}
    )


@receiver(user_locked_out)
def _audit_lockout(
    sender: Any, request: Any, username: str | None, ip_address: str, **kw: Any
) -> None:
    audit_event_record(
        action="auth.locked_out",
        actor_username=(username or "")[:150],
        details={"username": username, "ip_address": ip_address},
    )


@receiver(post_save, sender=LogEntry)
def _audit_admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    kind = {1: "added", 2: "changed", 3: "deleted"}.get(instance.action_flag, "changed")
    audit_event_record(
        action=f"admin.{kind}",
        actor=instance.user,
        target_type=instance.content_type.model_class()._meta.label_lower
        if instance.content_type and instance.content_type.model_class()
        else "",
        target_id=instance.object_id or "",
        details={"object": instance.object_repr, "change": instance.get_change_message()},
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _ensure_profile(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        Profile.objects.get_or_create(user=instance)


@receiver(post_migrate)
def _role_groups(sender: AppConfig, **kwargs: Any) -> None:
    """Once per migrate (or flush), after the last app's permissions were created."""
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if with_models and sender is with_models[-1]:
        role_groups_ensure()
        if settings.OIDC_GROUP_MAP:  # single sign-on's group mappings, seeded (kept after)
            group_mappings_seed(settings.OIDC_GROUP_MAP)
