"""The forms API: the forms you may fill and one form's definition with its JSON Schema."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from forms_app.api.serializers import FormDefinitionDetailSerializer, FormDefinitionListSerializer
from forms_app.models import FormDefinition
from forms_app.selectors import definition_get, definition_list
from portal.api.permissions import CanUseApi

TAGS = ["forms"]
_ERRORS = {
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not allowed"),
}


class FormListApi(APIView):
    """The current version of every form you may fill (empty when your role fills none)."""

    permission_classes = [CanUseApi]

    @extend_schema(
        summary="List fillable forms",
        tags=TAGS,
        responses={200: FormDefinitionListSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        definitions = definition_list(request.user)
        return Response(FormDefinitionListSerializer(definitions, many=True).data)


class FormDetailApi(APIView):
    """The current version of one form you may fill: fields and JSON Schema."""

    permission_classes = [CanUseApi]

    @extend_schema(
        summary="Get a form definition",
        tags=TAGS,
        responses={
            200: FormDefinitionDetailSerializer,
            **_ERRORS,
            404: OpenApiResponse(description="No such form, or not fillable by you"),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        try:
            definition = definition_get(request.user, slug)
        except FormDefinition.DoesNotExist as missing:
            raise exceptions.NotFound("No such form.") from missing
        return Response(FormDefinitionDetailSerializer(definition).data)
