"""Admin of the portal's own models, one more adapter over portal.permissions.

Users, groups (the roles) and regions: only for who manages users (``manage_users``). The
audit trail and django-axes' sign-in records: read by who reads the audit trail; unlocking
(deleting a record) is for who manages users. API tokens: one's own, or every token for who
manages users. Model permissions only open the pages; the policy decides the rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import ForeignKey, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.identity.provisioning import account_deactivate, scim_token_revoke
from portal.mfa import recently_verified
from portal.models import (
    TOKEN_SCOPES,
    ApiToken,
    AuditEvent,
    ExternalIdentity,
    GroupMapping,
    Profile,
    Region,
    ScimAccount,
    ScimGroup,
    ScimToken,
    UserSession,
)
from portal.permissions import STAFF_ROLES, Action, Role, can, can_act_for
from portal.selectors import api_tokens_visible_to, audit_events_visible_to
from portal.services import api_token_create, api_token_revoke
from portal.sessions import session_end, sessions_active

User = get_user_model()


def _may(request: HttpRequest, action: Action) -> bool:
    return can(request.user, action)


class _UserManagersOnly(admin.ModelAdmin[Any]):
    """Every page and row only for who manages users; nobody else even sees the module."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset if _may(request, Action.MANAGE_USERS) else queryset.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may(request, Action.MANAGE_USERS) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may(request, Action.MANAGE_USERS) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may(request, Action.MANAGE_USERS) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return _may(request, Action.MANAGE_USERS) and allowed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return _may(request, Action.MANAGE_USERS) and allowed


class _ShownNotEdited(admin.ModelAdmin[Any]):
    """Rows made elsewhere (by the services, a sign-in, a library): shown, never added or
    edited in the admin. First in the bases, so that it wins."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Region)
class RegionAdmin(_UserManagersOnly):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class ProfileInline(admin.StackedInline[Profile, Any]):
    model = Profile
    can_delete = False
    filter_horizontal = ["regions"]
    verbose_name_plural = "Regions served"


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class PortalUserAdmin(_UserManagersOnly, UserAdmin):
    """Staff accounts. Customers' accounts are not here: they are made and recovered from the
    customer's page (an invitation to the address on the record, docs/secure-messages.md),
    so that nobody changes where a customer's sign-in codes go or sets their password."""

    inlines = [ProfileInline]
    list_filter = ["groups", "is_active", "is_staff", "profile__regions"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).exclude(groups__name=Role.CUSTOMER.value)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean_groups(self: Any) -> Any:
            groups = self.cleaned_data.get("groups")
            if groups is not None and groups.filter(name=Role.CUSTOMER.value).exists():
                raise forms.ValidationError(
                    "The customer role is never given to a staff account (customers are "
                    "invited from the customer's page)."
                )
            return groups

        if "groups" in getattr(form, "base_fields", {}):
            form = type(form.__name__, (form,), {"clean_groups": clean_groups})
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Unticking "active" is a deactivation like the provider's: sessions ended, tokens
        revoked, open hand-offs and reviews back in their queues (audited)."""
        deactivated = change and "is_active" in form.changed_data and not obj.is_active
        if change and "is_active" in form.changed_data and obj.is_active:
            ScimAccount.objects.filter(user=obj).update(admin_hold=False)  # SCIM may again
        if deactivated:
            obj.is_active = True  # account_deactivate does it, with the rest
        super().save_model(request, obj, form, change)
        if deactivated:
            account_deactivate(
                user=obj,
                actor=request.user,
                actor_label=request.user.get_username(),
                reason="deactivated_in_admin",
            )
            obj.is_active = False


@admin.register(Group)
class RoleGroupAdmin(_UserManagersOnly, GroupAdmin):
    """Groups are the roles (docs/roles.md): who is in them decides every permission."""


@admin.register(GroupMapping)
class GroupMappingAdmin(_UserManagersOnly):
    """Which identity-provider group gives which role and region (single sign-on,
    docs/identity.md); applied at each user's next sign-in."""

    list_display = ["group", "role", "region", "created_at"]
    list_filter = ["role", "region"]
    search_fields = ["group"]
    fields = ["group", "role", "region"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role":
            choices = [("", "(none: the region only)")] + [(r.value, r.value) for r in STAFF_ROLES]
            return forms.ChoiceField(choices=choices, required=False, label="Role")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)
# Customers' e-mailed sign-in codes: the device follows the address on the customer record
# (assistant.messaging); nobody edits it here.
admin.site.unregister(EmailDevice)


@admin.register(TOTPDevice)
class PortalTOTPDeviceAdmin(_ShownNotEdited, _UserManagersOnly, TOTPDeviceAdmin):
    """Who has an authenticator (never its key: OTP_ADMIN_HIDE_SENSITIVE_DATA); who manages
    users may delete one (a lost phone), and the person enrols again."""

    ordering = ["user__username", "pk"]


@admin.register(StaticDevice)
class PortalStaticDeviceAdmin(_ShownNotEdited, _UserManagersOnly, StaticDeviceAdmin):
    """Who has recovery codes (never the codes); deletable by who manages users."""

    ordering = ["user__username", "pk"]


@admin.register(UserSession)
class UserSessionAdmin(_ShownNotEdited, _UserManagersOnly):
    """Signed-in sessions of every user (who manages users): when, from where; end them."""

    list_display = ["user", "created_at", "last_seen_at", "ip_address", "ended_at", "end_reason"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter), "end_reason"]
    search_fields = ["user__username", "ip_address"]
    readonly_fields = [
        "user",
        "created_at",
        "last_seen_at",
        "ip_address",
        "user_agent",
        "ended_at",
        "end_reason",
    ]
    exclude = ["session_key"]  # a bearer secret: never shown
    actions = ["end_sessions"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _may(request, Action.MANAGE_USERS):
            actions.pop("end_sessions", None)
        return actions

    @admin.action(description="End selected sessions")
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[UserSession]) -> None:
        live = sessions_active(queryset)
        ended = 0
        for session in live:
            session_end(session=session, actor=request.user, reason="ended_by_admin")
            ended += 1
        messages.success(request, f"Ended {ended} session(s).")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(_ShownNotEdited, _UserManagersOnly):
    """Accounts as the identity provider knows them (made at the first sign-on); read only:
    the provider is the source, and deleting one would let its next sign-in make a new
    account."""

    list_display = ["user", "issuer", "subject", "last_sign_in_at", "created_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "groups", "created_at", "last_sign_in_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScimToken)
class ScimTokenAdmin(_ShownNotEdited, _UserManagersOnly):
    """The provisioning client's bearer tokens (made by ``manage.py scim_token create``,
    which shows the token once); revoke them here."""

    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _may(request, Action.MANAGE_USERS):
            actions.pop("revoke", None)
        return actions

    @admin.action(description="Revoke selected SCIM tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ScimToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            scim_token_revoke(token=token, actor=request.user)
        messages.success(request, "Revoked.")


@admin.register(ScimAccount)
class ScimAccountAdmin(_ShownNotEdited, _UserManagersOnly):
    """Accounts the identity provider provisioned (SCIM); read only: the provider is the
    source."""

    list_display = ["user", "external_id", "display_name", "updated_at", "deleted_at"]
    search_fields = ["user__username", "external_id", "display_name"]
    readonly_fields = [
        "user",
        "scim_id",
        "external_id",
        "display_name",
        "emails",
        "version",
        "created_at",
        "updated_at",
        "deleted_at",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScimGroup)
class ScimGroupAdmin(_ShownNotEdited, _UserManagersOnly):
    """The provider's groups and members (SCIM); read only. What a group gives is its
    group mapping's."""

    list_display = ["display_name", "external_id", "updated_at"]
    search_fields = ["display_name", "external_id"]
    readonly_fields = [
        "scim_id",
        "display_name",
        "external_id",
        "members",
        "version",
        "created_at",
        "updated_at",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _AuditReaders(admin.ModelAdmin[Any]):
    """Read by who may read the audit trail; nothing added or changed here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may(request, Action.VIEW_AUDIT) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may(request, Action.VIEW_AUDIT) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(_AuditReaders):
    """Read-only: the trail is append-only in the database too."""

    list_display = [
        "created_at",
        "actor_username",
        "action",
        "target_type",
        "target_id",
        "ip_address",
    ]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_username", "action", "target_id", "request_id"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        visible = audit_events_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _SignInRecords(_AuditReaders):
    """django-axes' records of sign-in attempts: deleting one unlocks that account or address,
    which is for who manages users."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset if _may(request, Action.VIEW_AUDIT) else queryset.none()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return _may(request, Action.MANAGE_USERS) and allowed


for _model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(AccessAttempt)
class PortalAccessAttemptAdmin(_SignInRecords, AccessAttemptAdmin):
    ordering = ["-attempt_time", "-pk"]  # pages in a stable order


@admin.register(AccessLog)
class PortalAccessLogAdmin(_SignInRecords, AccessLogAdmin):
    pass


@admin.register(AccessFailureLog)
class PortalAccessFailureLogAdmin(_SignInRecords, AccessFailureLogAdmin):
    pass


class ApiTokenForm(forms.ModelForm[ApiToken]):
    """The new token's scopes and expiry, checked here so that a mistake is a form error
    (the service checks them again)."""

    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in TOKEN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="read: GET requests; write: other requests; assistant: the assistant's "
        "endpoints (docs/api.md).",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at", "scopes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # On the add page only: an existing token is shown read-only (no form fields).
        if "scopes" in self.fields:
            self.fields["scopes"].initial = list(settings.API_TOKEN_DEFAULT_SCOPES)
        if "expires_at" in self.fields:
            self.fields["expires_at"].help_text = (
                f"Empty: in {settings.API_TOKEN_DEFAULT_DAYS} days; "
                f"at most {settings.API_TOKEN_MAX_DAYS} days."
            )

    def clean_expires_at(self) -> Any:
        value = self.cleaned_data.get("expires_at")
        now = timezone.now()
        if value is not None and value <= now:
            raise forms.ValidationError("The expiry must be in the future.")
        if value is not None and value > now + timedelta(days=settings.API_TOKEN_MAX_DAYS):
            raise forms.ValidationError(
                f"A token may live at most {settings.API_TOKEN_MAX_DAYS} days."
            )
        return value


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Tokens through the services; a token for someone else only by who manages users."""

    form = ApiTokenForm

    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    fields = [
        "user",
        "name",
        "scopes",
        "expires_at",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """A new key is a credential: only from a session that gave an MFA code in the last
        15 minutes (``portal.mfa``; ``manage.py create_api_token`` is the operators' way)."""
        return super().has_add_permission(request) and recently_verified(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        visible = api_tokens_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or can_act_for(request.user, obj.user))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or can_act_for(request.user, obj.user))

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "user" and not _may(request, Action.MANAGE_USERS):
            kwargs["queryset"] = User.objects.filter(pk__in=[request.user.pk])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, key = api_token_create(
            user=obj.user,
            name=obj.name,
            expires_at=obj.expires_at,
            created_by=request.user,
            scopes=form.cleaned_data["scopes"],
        )
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = (
            token.pk,
            token.prefix,
            token.key_hash,
            token.created_at,
        )
        messages.warning(
            request, f"Copy the key now, it is not stored and will not be shown again: {key}"
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
