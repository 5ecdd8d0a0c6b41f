"""The forms API: fillable forms, pre-fill, submissions and their workflow."""

from __future__ import annotations

from typing import Any

from django.db import transaction as db_transaction
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from forms_app.api.serializers import (
    FormDefinitionDetailSerializer,
    FormDefinitionListSerializer,
    PrefillInputSerializer,
    PrefillOutputSerializer,
    SubmissionCommentSerializer,
    SubmissionCreateSerializer,
    SubmissionFileSerializer,
    SubmissionSerializer,
)
from forms_app.selectors import (
    definition_get,
    definition_list,
    submission_get,
    submission_list_mine,
)
from forms_app.services import (
    prefill,
    submission_attach_file,
    submission_create_draft,
    submission_transition,
)
from forms_app.workflow import TRANSITIONS, Transition
from knowledge.customers.selectors import customer_records_get
from portal.api.permissions import CanUseApi
from portal.api.shortcuts import visible_or_not_found

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
        definition = visible_or_not_found(definition_get, "form")(request.user, slug)
        return Response(FormDefinitionDetailSerializer(definition).data)


_NOT_FOUND = OpenApiResponse(description="Not found, or not visible to you")
_INVALID = OpenApiResponse(description='Invalid data or transition: {"message", "extra"}')


class FormPrefillApi(APIView):
    """Pre-fill values of a form for one customer (account, transaction), as you may see them."""

    permission_classes = [CanUseApi]

    @extend_schema(
        summary="Pre-fill a form from a customer record",
        tags=TAGS,
        request=PrefillInputSerializer,
        responses={200: PrefillOutputSerializer, 400: _INVALID, **_ERRORS, 404: _NOT_FOUND},
    )
    def post(self, request: Request, slug: str) -> Response:
        definition = visible_or_not_found(definition_get, "form")(request.user, slug)
        payload = PrefillInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customer_id = payload.validated_data["customer_id"]
        customer = visible_or_not_found(customer_records_get, "customer")(
            request.user, customer_id
        ).customer
        values = prefill(
            request.user,
            definition,
            customer,
            payload.validated_data.get("account_id"),
            payload.validated_data.get("transaction_id"),
        )
        return Response({"values": values})


class SubmissionCreateApi(APIView):
    """Create a draft (and submit it when ``submit`` is true); list your own submissions."""

    permission_classes = [CanUseApi]

    @extend_schema(
        summary="List my submissions",
        tags=TAGS,
        responses={200: SubmissionSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        rows = submission_list_mine(request.user).prefetch_related("events__actor")
        return Response(SubmissionSerializer(rows, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Create a submission (draft, or submitted)",
        tags=TAGS,
        request=SubmissionCreateSerializer,
        responses={201: SubmissionSerializer, 400: _INVALID, **_ERRORS, 404: _NOT_FOUND},
    )
    def post(self, request: Request) -> Response:
        payload = SubmissionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        values = payload.validated_data
        definition = visible_or_not_found(definition_get, "form")(request.user, values["form"])
        customer = visible_or_not_found(customer_records_get, "customer")(
            request.user, values["customer_id"]
        ).customer
        with db_transaction.atomic():
            submission = submission_create_draft(
                actor=request.user,
                definition=definition,
                customer=customer,
                account=values.get("account_id"),
                transaction=values.get("transaction_id"),
                data=values.get("data") or {},
            )
            if values.get("submit"):
                submission = submission_transition(
                    actor=request.user, submission=submission, name="submit"
                )
        return Response(
            SubmissionSerializer(submission, context={"request": request}).data, status=201
        )


class SubmissionDetailApi(APIView):
    """One submission you filled or may review, with its history."""

    permission_classes = [CanUseApi]

    @extend_schema(
        summary="Get a submission",
        tags=TAGS,
        responses={200: SubmissionSerializer, **_ERRORS, 404: _NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        submission = visible_or_not_found(submission_get, "submission")(request.user, pk)
        return Response(SubmissionSerializer(submission, context={"request": request}).data)


class SubmissionFileApi(APIView):
    """Attach a file to a file field of your draft (multipart: ``field``, ``file``)."""

    permission_classes = [CanUseApi]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Attach a file to a draft",
        tags=TAGS,
        request=SubmissionFileSerializer,
        responses={201: SubmissionSerializer, **_ERRORS, 404: _NOT_FOUND, 400: _INVALID},
    )
    def post(self, request: Request, pk: int) -> Response:
        submission = visible_or_not_found(submission_get, "submission")(request.user, pk)
        payload = SubmissionFileSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        submission_attach_file(
            actor=request.user,
            submission=submission,
            key=payload.validated_data["field"],
            upload=payload.validated_data["file"],
        )
        submission.refresh_from_db()
        return Response(
            SubmissionSerializer(submission, context={"request": request}).data, status=201
        )


class TransitionSchema(AutoSchema):
    """The schema of one transition's route, from its row in ``forms_app.workflow``."""

    def _transition(self) -> Transition:
        return TRANSITIONS[getattr(self.view, "transition", "")]

    def get_summary(self) -> str | None:
        return self._transition().api_summary

    # drf-spectacular's signature, not the one of DRF's own inspector in the stubs.
    def get_description(self) -> str:  # type: ignore[override]
        return self._transition().api_description or super().get_description()

    def get_request_serializer(self) -> Any:
        return SubmissionCommentSerializer if self._transition().takes_comment else None


class SubmissionTransitionApi(APIView):
    """Move a submission along its workflow (403 when you may not, 400 from a wrong status)."""

    permission_classes = [CanUseApi]
    schema = TransitionSchema()
    transition = ""  # a name in forms_app.workflow.TRANSITIONS: as_view(transition=...)

    @extend_schema(
        tags=TAGS,
        responses={200: SubmissionSerializer, 400: _INVALID, **_ERRORS, 404: _NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        submission = visible_or_not_found(submission_get, "submission")(request.user, pk)
        comment = ""
        if TRANSITIONS[self.transition].takes_comment:
            payload = SubmissionCommentSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            comment = payload.validated_data.get("comment", "")
        submission = submission_transition(
            actor=request.user, submission=submission, name=self.transition, comment=comment
        )
        return Response(SubmissionSerializer(submission, context={"request": request}).data)
