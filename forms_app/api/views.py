"""The forms API: fillable forms, pre-fill, submissions and their workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction as db_transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
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
from forms_app.models import FormDefinition, FormSubmission
from forms_app.selectors import (
    definition_get,
    definition_list,
    submission_get,
    submission_list_mine,
)
from forms_app.services import (
    prefill,
    submission_approve,
    submission_attach_file,
    submission_create_draft,
    submission_reject,
    submission_start_review,
    submission_submit,
    submission_withdraw,
)
from knowledge.customers.models import Customer
from knowledge.customers.selectors import customers_visible_to
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


def _definition(user: Any, slug: str) -> FormDefinition:
    try:
        return definition_get(user, slug)
    except FormDefinition.DoesNotExist as missing:
        raise exceptions.NotFound("No such form.") from missing


def _customer(user: Any, customer_id: int) -> Customer:
    try:
        return customers_visible_to(user).get(pk=customer_id)
    except Customer.DoesNotExist as missing:
        raise exceptions.NotFound("No such customer.") from missing


def _submission(user: Any, pk: int) -> FormSubmission:
    try:
        return submission_get(user, pk)
    except FormSubmission.DoesNotExist as missing:
        raise exceptions.NotFound("No such submission.") from missing


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
        definition = _definition(request.user, slug)
        payload = PrefillInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customer = _customer(request.user, payload.validated_data["customer_id"])
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
        definition = _definition(request.user, values["form"])
        customer = _customer(request.user, values["customer_id"])
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
                submission = submission_submit(actor=request.user, submission=submission)
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
        return Response(
            SubmissionSerializer(_submission(request.user, pk), context={"request": request}).data
        )


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
        submission = _submission(request.user, pk)
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


TRANSITION_SERVICES: dict[str, Callable[..., FormSubmission]] = {
    "submit": submission_submit,
    "start_review": submission_start_review,
    "approve": submission_approve,
    "reject": submission_reject,
    "withdraw": submission_withdraw,
}


class SubmissionTransitionApi(APIView):
    """Move a submission along its workflow (403 when you may not, 400 from a wrong status)."""

    permission_classes = [CanUseApi]
    transition = ""

    def post(self, request: Request, pk: int) -> Response:
        submission = _submission(request.user, pk)
        kwargs: dict[str, Any] = {"actor": request.user, "submission": submission}
        if self.transition in ("approve", "reject"):
            payload = SubmissionCommentSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            kwargs["comment"] = payload.validated_data.get("comment", "")
        submission = TRANSITION_SERVICES[self.transition](**kwargs)
        return Response(SubmissionSerializer(submission, context={"request": request}).data)


def transition_view(transition: str) -> Any:
    """The transition view for ``transition``, with its own schema entry."""
    summaries = {
        "submit": ("Submit a draft", None),
        "start_review": ("Start reviewing a submission", None),
        "approve": ("Approve a submission", SubmissionCommentSerializer),
        "reject": ("Reject a submission (comment required)", SubmissionCommentSerializer),
        "withdraw": ("Withdraw a draft or submission", None),
    }
    summary, body = summaries[transition]

    # A function of its own per transition: the schema annotation is set on the function.
    def post(self: SubmissionTransitionApi, request: Request, pk: int) -> Response:
        return SubmissionTransitionApi.post(self, request, pk)

    schema = extend_schema(
        summary=summary,
        tags=TAGS,
        request=body,
        responses={200: SubmissionSerializer, 400: _INVALID, **_ERRORS, 404: _NOT_FOUND},
    )
    view_class: type[SubmissionTransitionApi] = type(
        f"Submission{transition.title().replace('_', '')}Api",
        (SubmissionTransitionApi,),
        {"transition": transition, "post": schema(post)},
    )
    return view_class.as_view()
