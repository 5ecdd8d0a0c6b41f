from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.models import ApiToken, AuditEvent, Profile, Region
from portal.services import api_token_create, api_token_revoke

User = get_user_model()


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin[Region]):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class ProfileInline(admin.StackedInline[Profile, Any]):
    model = Profile
    can_delete = False
    filter_horizontal = ["regions"]
    verbose_name_plural = "Regions served"


admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    inlines = [ProfileInline]
    list_filter = ["groups", "is_active", "is_staff", "profile__regions"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, key = api_token_create(
            user=obj.user, name=obj.name, expires_at=obj.expires_at, created_by=request.user
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
