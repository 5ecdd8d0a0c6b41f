from __future__ import annotations

from typing import Any

from rest_framework import serializers

from portal.models import Region
from portal.permissions import Action, actions_of, regions_visible_to, user_roles
from portal.types import AnyUser


class RegionSerializer(serializers.ModelSerializer[Region]):
    class Meta:
        model = Region
        fields = ["id", "code", "name"]


class MeSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)  # an account may have none
    full_name = serializers.CharField(source="get_full_name")
    roles = serializers.SerializerMethodField()
    regions = serializers.SerializerMethodField()
    sees_all_regions = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    def get_roles(self, user: AnyUser) -> list[str]:
        return sorted(role.value for role in user_roles(user))

    def get_regions(self, user: AnyUser) -> list[dict[str, Any]]:
        return RegionSerializer(regions_visible_to(user), many=True).data  # type: ignore[return-value]

    def get_sees_all_regions(self, user: AnyUser) -> bool:
        return Action.SEE_ALL_REGIONS in actions_of(user)

    def get_actions(self, user: AnyUser) -> list[str]:
        return sorted(action.value for action in actions_of(user))
