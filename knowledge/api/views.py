"""The knowledge API: collections, documents (upload, detail, reprocess) and search."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.api.serializers import (
    CollectionCreateSerializer,
    CollectionSerializer,
    DocumentDetailSerializer,
    DocumentListQuerySerializer,
    DocumentReprocessSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    SearchQuerySerializer,
    SearchResponseSerializer,
)
from knowledge.models import Collection, Document
from knowledge.permissions import can_create_collection, collections_managed_by
from knowledge.selectors import chunk_search, collection_list, document_get, document_list
from knowledge.services import collection_create, document_create, document_reprocess
from portal.api.permissions import requires
from portal.api.shortcuts import visible_or_not_found
from portal.permissions import Action
from portal.types import AnyUser
from portal.validation import parse_id

CanSearchKnowledge = requires(Action.SEARCH_KNOWLEDGE)
TAGS = ["knowledge"]

# The same words whether the collection is missing, unreadable or only not manageable:
# the answer must not reveal that a collection the user may not read exists.
COLLECTION_NOT_AVAILABLE = "This collection does not exist or you may not add documents to it."

_ERRORS = {
    400: OpenApiResponse(description="Validation error: {message, extra: {fields}}"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not allowed"),
}
_NOT_FOUND = {404: OpenApiResponse(description="No such document, or not readable by you")}


_document_or_404 = visible_or_not_found(document_get, "document")


def _managed_collection(user: AnyUser, key: str) -> Collection:
    key = key.strip()
    collection_id = parse_id(key)
    lookup = Q(slug=key) if collection_id is None else Q(slug=key) | Q(pk=collection_id)
    collection = collections_managed_by(user).filter(lookup).first()
    if collection is None:
        raise exceptions.ValidationError({"collection": [COLLECTION_NOT_AVAILABLE]})
    return collection


class CollectionListCreateApi(APIView):
    """Collections you may read; content managers and admins create new ones."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="List readable collections",
        tags=TAGS,
        responses={200: CollectionSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        collections = collection_list(request.user).order_by("name")
        return Response(CollectionSerializer(collections, many=True).data)

    @extend_schema(
        summary="Create a collection",
        tags=TAGS,
        request=CollectionCreateSerializer,
        responses={201: CollectionSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        if not can_create_collection(request.user):
            raise exceptions.PermissionDenied("Your role may not create collections.")
        serializer = CollectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        collection = collection_create(actor=request.user, **serializer.validated_data)
        created = collection_list(request.user).get(pk=collection.pk)
        return Response(CollectionSerializer(created).data, status=status.HTTP_201_CREATED)


class DocumentListCreateApi(generics.GenericAPIView[Document]):
    """Documents you may read, most recently updated first; upload to a collection you manage."""

    permission_classes = [CanSearchKnowledge]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = DocumentSerializer

    def get_queryset(self) -> QuerySet[Document]:
        query = DocumentListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return document_list(
            self.request.user,
            collection=query.validated_data.get("collection") or None,
            status=query.validated_data.get("status") or "",
        )

    @extend_schema(
        summary="List readable documents",
        tags=TAGS,
        parameters=[DocumentListQuerySerializer],
        responses={200: DocumentSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DocumentSerializer(page, many=True).data)

    @extend_schema(
        summary="Upload a document",
        tags=TAGS,
        request=DocumentUploadSerializer,
        responses={201: DocumentDetailSerializer, **_ERRORS},
        description="Upload a document. A file that is too large or not what it claims to be "
        "is recorded with status `failed` and the reason in `error`.",
    )
    def post(self, request: Request) -> Response:
        serializer = DocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        collection = _managed_collection(request.user, data["collection"])
        upload = data["file"]
        document = document_create(
            actor=request.user,
            collection=collection,
            title=data["title"],
            file=upload,
            source_url=data["source_url"] or "",
            effective_date=data["effective_date"],
            content_type=getattr(upload, "content_type", None),
        )
        document = Document.objects.select_related("collection").get(pk=document.pk)
        return Response(DocumentDetailSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    """One document you may read, with its versions."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Get a document",
        tags=TAGS,
        responses={200: DocumentDetailSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        document = _document_or_404(request.user, pk)
        return Response(DocumentDetailSerializer(document).data)


class DocumentReprocessApi(APIView):
    """Queue the newest version of a document you manage for processing again."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Reprocess a document",
        tags=TAGS,
        request=None,
        responses={202: DocumentReprocessSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        document = _document_or_404(request.user, pk)
        document = document_reprocess(actor=request.user, document=document)
        return Response({"status": document.status}, status=status.HTTP_202_ACCEPTED)


class SearchApi(APIView):
    """Hybrid search (meaning and keywords) over the chunks you may read."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Search the knowledge base",
        tags=TAGS,
        parameters=[SearchQuerySerializer],
        responses={200: SearchResponseSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        result = chunk_search(
            request.user,
            data["q"],
            k=data["k"],
            collections=data["collection"] or None,
            mode=data["mode"],
        )
        return Response(SearchResponseSerializer(result).data)
