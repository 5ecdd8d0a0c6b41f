"""Reads of the knowledge app, always starting from what the user may see.

``chunk_search`` is the one search used by the portal, the API and the assistant: a dense
side (pgvector HNSW, cosine) and a keyword side (BM25 over the posting table), both with
the permission filter inside their SQL, fused by a convex combination of their normalised
scores with each collection's dense weight (``knowledge.fusion``; reciprocal rank fusion
with ``KNOWLEDGE_FUSION=rrf``).

Every read of chunks filters on ``collection_id`` being a readable collection; a chunk of
an archived document has no collection (``Chunk.collection``) and no postings, so that one
filter also keeps archived documents out of every search path and every answer.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from pgvector import Vector

from knowledge import fusion
from knowledge.embeddings import get_backend
from knowledge.models import Chunk, Collection, Document, GoldenQuestion
from knowledge.permissions import (
    collections_managed_by,
    collections_visible_to,
    documents_managed_by,
    documents_visible_to,
)
from portal.services import audit_event_record
from portal.types import AnyUser
from portal.validation import parse_id

MAX_QUERY_LENGTH = 1000
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"  # ts_headline markers, replaced after escaping


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    KEYWORD = "keyword"


@dataclass
class SearchHit:
    chunk_id: int
    document_id: int
    document_title: str
    collection_slug: str
    collection_name: str
    version: int
    ordinal: int
    page: int | None
    heading_path: list[str]
    text: str
    snippet_html: str  # escaped text with <mark> around matched terms: safe to render
    score: float
    dense_rank: int | None = None
    keyword_rank: int | None = None
    dense_weight: float | None = None  # hybrid (convex): the weight this hit was fused with


@dataclass
class SearchResult:
    query: str
    mode: SearchMode
    hits: list[SearchHit] = field(default_factory=list)
    model_mismatch: bool = False  # readable chunks embedded with another model exist


def _readable(user: AnyUser, collections: list[Any] | None) -> QuerySet[Collection]:
    """The readable collections, narrowed to ``collections`` (ids or slugs) if given."""
    visible = collections_visible_to(user)
    if collections:
        # An id is ASCII digits (parse_id); anything else can only be a slug.
        ids = [parse_id(c) for c in collections]
        slugs = [str(c) for c, i in zip(collections, ids, strict=True) if i is None]
        visible = visible.filter(Q(pk__in=[i for i in ids if i is not None]) | Q(slug__in=slugs))
    return visible


def customer_facing_collection_ids() -> list[int]:
    """Ids of the customer-facing collections: all the assistant may quote to customers."""
    return list(
        Collection.objects.filter(customer_facing=True, evaluation_run="").values_list(
            "id", flat=True
        )
    )


def customer_facing_collection_slugs() -> set[str]:
    """Slugs of the customer-facing collections (those a draft's sources are checked against)."""
    return set(
        Collection.objects.filter(customer_facing=True, evaluation_run="").values_list(
            "slug", flat=True
        )
    )


def collection_ids_readable(user: AnyUser, collections: list[Any] | None) -> list[int]:
    """Ids of the readable collections, narrowed to ``collections`` (ids or slugs) if given."""
    return list(_readable(user, collections).values_list("id", flat=True))


_DENSE_SQL = """
    WITH nearest AS MATERIALIZED (
        SELECT id, collection_id, embedding <=> %(vector)s::vector AS distance
        FROM knowledge_chunk
        WHERE {row_filter}
        ORDER BY {order}
        LIMIT %(limit)s
    )
    SELECT id, 1 - distance, collection_id FROM nearest ORDER BY distance, id
"""

_Row = tuple[int, float, int]  # chunk id, the side's score, collection id


def _dense(vector: Any, collection_ids: list[int], model_id: str, limit: int) -> list[_Row]:
    """Nearest readable chunks: the HNSW index, or an exact scan when it comes back short.

    The planner would often pick an exact scan (it underestimates reading the vectors),
    so the index is forced: no sequential scan, and the filter columns are wrapped
    (``collection_id + 0``, ``embedding_model || ''``) to keep the B-trees out.
    ``relaxed_order`` lets the scan continue until ``limit`` rows pass the filter; the
    outer ORDER BY restores exact order. When the filter is so selective that the scan
    gives up (``hnsw.max_scan_tuples``) before ``limit`` rows, the readable rows are few
    and an exact scan over them is cheap and complete.
    """
    params: dict[str, Any] = {
        "vector": Vector(vector).to_text(),
        "collections": collection_ids,
        "model": model_id,
        "limit": limit,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), "
            "set_config('hnsw.max_scan_tuples', %s, true)",
            [
                str(min(max(settings.KNOWLEDGE_HNSW_EF_SEARCH, limit), 1000)),  # pgvector's cap
                str(settings.KNOWLEDGE_HNSW_MAX_SCAN_TUPLES),
            ],
        )
        cursor.execute(
            _DENSE_SQL.format(
                row_filter="collection_id + 0 = ANY(%(collections)s)"
                " AND embedding_model || '' = %(model)s",
                order="embedding <=> %(vector)s::vector",
            ),
            params,
        )
        rows = cursor.fetchall()
        # Inside a caller's transaction (ATOMIC_REQUESTS, a service, a test) this block is a
        # savepoint, and SET LOCAL outlives its release: the settings would go on steering
        # every later query of the transaction, the exact scan below included (which, with
        # sequential scans off, could take the same short index scan again). Rolling the
        # read-only block back drops them.
        transaction.set_rollback(True)
    if len(rows) < limit:
        with connection.cursor() as cursor:
            # Exact: an ORDER BY the HNSW index cannot serve (a plain scan of the graph,
            # without the iterative scan, could again return too few rows).
            cursor.execute(
                _DENSE_SQL.format(
                    row_filter="collection_id = ANY(%(collections)s)"
                    " AND embedding_model = %(model)s",
                    order="(embedding <=> %(vector)s::vector) + 0",
                ),
                params,
            )
            rows = cursor.fetchall()
    return [(chunk_id, float(score), collection_id) for chunk_id, score, collection_id in rows]


_BM25_SQL = """
WITH query_terms AS (
    SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector(%(config)s::regconfig, %(query)s))
),
postings AS (
    SELECT p.term, p.chunk_id, p.collection_id, p.tf, p.dl
    FROM knowledge_posting p
    WHERE p.term IN (SELECT term FROM query_terms) AND p.collection_id = ANY(%(collections)s)
),
corpus AS (
    -- Statistics over the readable collections only: scores never depend on
    -- (and so never reveal) documents the user may not read. One row per collection,
    -- kept by triggers on the chunk table (knowledge.models.CollectionTerms).
    SELECT coalesce(sum(chunks), 0)::float8 AS n,
           greatest(sum(terms)::float8 / nullif(sum(chunks), 0), 1) AS avgdl
    FROM knowledge_collectionterms WHERE collection_id = ANY(%(collections)s)
),
document_frequency AS (
    SELECT term, count(*)::float8 AS df FROM postings GROUP BY term
)
SELECT p.chunk_id,
       sum(ln(1 + (c.n - f.df + 0.5) / (f.df + 0.5))
           * p.tf * (%(k1)s + 1)
           / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / c.avgdl))) AS score,
       min(p.collection_id)
FROM postings p JOIN document_frequency f USING (term) CROSS JOIN corpus c
GROUP BY p.chunk_id
ORDER BY score DESC, p.chunk_id
LIMIT %(limit)s
"""


def _keyword(query: str, collection_ids: list[int], limit: int) -> list[_Row]:
    with connection.cursor() as cursor:
        cursor.execute(
            _BM25_SQL,
            {
                "config": settings.KNOWLEDGE_TEXT_SEARCH_CONFIG,
                "query": query,
                "collections": collection_ids,
                "k1": settings.KNOWLEDGE_BM25_K1,
                "b": settings.KNOWLEDGE_BM25_B,
                "limit": limit,
            },
        )
        return [
            (chunk_id, float(score), collection_id)
            for chunk_id, score, collection_id in cursor.fetchall()
        ]


def candidate_pool(k: int) -> int:
    """How many candidates each side gives for a search of ``k`` results."""
    return max(k * 4, 40)


@dataclass
class Sides:
    """Both sides' candidates, best first, each with the side's own score (cosine
    similarity, BM25), and the collection of every candidate."""

    dense: list[tuple[int, float]] = field(default_factory=list)
    keyword: list[tuple[int, float]] = field(default_factory=list)
    collection_of: dict[int, int] = field(default_factory=dict)
    model_mismatch: bool = False  # readable chunks embedded with another model exist


def search_sides(query: str, collection_ids: list[int], mode: SearchMode, pool: int) -> Sides:
    """Each side's ``pool`` best chunks of ``collection_ids`` (already the readable ones:
    callers start from ``collection_ids_readable`` or from one collection for a fit)."""
    sides = Sides()
    if not collection_ids:
        return sides
    rows: list[_Row] = []
    if mode in (SearchMode.HYBRID, SearchMode.DENSE):
        backend = get_backend()
        dense = _dense(backend.embed_query(query), collection_ids, backend.model_id, pool)
        sides.dense = [(chunk_id, score) for chunk_id, score, _ in dense]
        rows += dense
        # Two index range scans (< and >) instead of reading every entry with "<>".
        other_model = Q(embedding_model__lt=backend.model_id) | Q(
            embedding_model__gt=backend.model_id
        )
        sides.model_mismatch = Chunk.objects.filter(
            other_model, collection_id__in=collection_ids
        ).exists()
    if mode in (SearchMode.HYBRID, SearchMode.KEYWORD):
        keyword = _keyword(query, collection_ids, pool)
        sides.keyword = [(chunk_id, score) for chunk_id, score, _ in keyword]
        rows += keyword
    sides.collection_of = {chunk_id: collection_id for chunk_id, _, collection_id in rows}
    return sides


def dense_weights(collection_ids: list[int]) -> dict[int, float]:
    """Each collection's dense weight for hybrid search: fitted from its golden questions
    (with the embedding model in use), else ``KNOWLEDGE_FUSION_DENSE_WEIGHT``."""
    return _weights(Collection.objects.filter(pk__in=collection_ids).values_list(*_WEIGHT_COLUMNS))


_WEIGHT_COLUMNS = ("pk", "fusion_weight", "fusion_fit__embedding_model")


def _weights(rows: Iterable[tuple[int, float | None, str | None]]) -> dict[int, float]:
    default = settings.KNOWLEDGE_FUSION_DENSE_WEIGHT
    model = get_backend().model_id
    # A weight fitted on another embedding model's vectors no longer says anything.
    return {
        pk: weight if weight is not None and fitted_on == model else default
        for pk, weight, fitted_on in rows
    }


def fuse(sides: Sides, mode: SearchMode, weights: dict[int, float]) -> list[tuple[int, float]]:
    """The ranking ``mode`` asks for: one side's own order and scores, or both fused."""
    if mode == SearchMode.DENSE:
        return list(sides.dense)
    if mode == SearchMode.KEYWORD:
        return list(sides.keyword)
    if settings.KNOWLEDGE_FUSION == "rrf":
        return fusion.rrf([sides.dense, sides.keyword], settings.KNOWLEDGE_RRF_K)
    default = settings.KNOWLEDGE_FUSION_DENSE_WEIGHT
    return fusion.convex(
        sides.dense,
        sides.keyword,
        lambda chunk_id: weights.get(sides.collection_of.get(chunk_id, 0), default),
    )


def _snippet(raw: str) -> str:
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")


def _hits(ids: list[int], query: str, collection_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Details and highlighted snippets of the chosen chunks (still permission-filtered)."""
    if not ids:
        return {}
    options = (
        f"StartSel={_MARK_OPEN}, StopSel={_MARK_CLOSE}, MaxWords=40, MinWords=15, MaxFragments=2"
    )
    sql = """
        SELECT c.id, c.document_id, d.title, col.slug, col.name, c.version, c.ordinal, c.page,
               c.heading_path, c.text,
               ts_headline(%(config)s::regconfig, c.text,
                           plainto_tsquery(%(config)s::regconfig, %(query)s), %(options)s)
        FROM knowledge_chunk c
        JOIN knowledge_document d ON d.id = c.document_id
        JOIN knowledge_collection col ON col.id = c.collection_id
        WHERE c.id = ANY(%(ids)s) AND c.collection_id = ANY(%(collections)s)
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "config": settings.KNOWLEDGE_TEXT_SEARCH_CONFIG,
                "query": query,
                "options": options,
                "ids": ids,
                "collections": collection_ids,
            },
        )
        columns = ["chunk_id", "document_id", "document_title", "collection_slug",
                   "collection_name", "version", "ordinal", "page", "heading_path", "text",
                   "snippet"]  # fmt: skip
        return {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def chunk_search(
    user: AnyUser,
    query: str,
    k: int = 10,
    collections: list[Any] | None = None,
    mode: SearchMode | str = SearchMode.HYBRID,
    candidates: int | None = None,
    audit: bool = True,
) -> SearchResult:
    """Search the chunks ``user`` may read; hybrid (dense + BM25, fused) unless told otherwise."""
    query = (query or "").strip()
    if not query:
        raise ValidationError({"q": "Enter something to search for."})
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationError({"q": f"The query is longer than {MAX_QUERY_LENGTH} characters."})
    if not 1 <= k <= settings.KNOWLEDGE_SEARCH_MAX_K:
        raise ValidationError({"k": f"k must be between 1 and {settings.KNOWLEDGE_SEARCH_MAX_K}."})
    mode = SearchMode(mode)
    result = SearchResult(query=query, mode=mode)
    # One query: the readable collections with their weights.
    readable = list(_readable(user, collections).values_list(*_WEIGHT_COLUMNS))
    collection_ids = [row[0] for row in readable]
    sides = search_sides(query, collection_ids, mode, candidates or candidate_pool(k))
    result.model_mismatch = sides.model_mismatch
    convex = mode == SearchMode.HYBRID and settings.KNOWLEDGE_FUSION == "convex"
    weights = _weights(readable) if convex else {}
    fused = fuse(sides, mode, weights)[:k]

    def weight_of(chunk_id: int) -> float | None:
        if not convex:
            return None
        collection_id = sides.collection_of.get(chunk_id, 0)
        return weights.get(collection_id, settings.KNOWLEDGE_FUSION_DENSE_WEIGHT)

    details = _hits([chunk_id for chunk_id, _ in fused], query, collection_ids)
    dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(sides.dense, start=1)}
    keyword_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(sides.keyword, start=1)}
    for chunk_id, score in fused:
        row = details.get(chunk_id)
        if row is None:  # deleted between the two queries
            continue
        snippet = row.pop("snippet")
        result.hits.append(
            SearchHit(
                **row,
                snippet_html=_snippet(snippet),
                score=score,
                dense_rank=dense_rank.get(chunk_id),
                keyword_rank=keyword_rank.get(chunk_id),
                dense_weight=weight_of(chunk_id),
            )
        )
    if audit:
        audit_event_record(
            action="knowledge.search",
            actor=user,
            details={
                "query": query,
                "mode": mode.value,
                "k": k,
                "collections": [str(c) for c in collections or []],
                "chunk_ids": [hit.chunk_id for hit in result.hits],
            },
        )
    return result


def collection_list(user: AnyUser) -> QuerySet[Collection]:
    """Readable collections with their number of (current, not archived) documents and
    whether the user manages them."""
    current = Q(documents__archived_at__isnull=True)
    return collections_visible_to(user).annotate(
        document_count=Count("documents", filter=current, distinct=True),
        manageable=Exists(collections_managed_by(user).filter(pk=OuterRef("pk"))),
    )


def document_list(
    user: AnyUser, *, collection: Any = None, status: str = "", archived: bool = False
) -> QuerySet[Document]:
    """Documents the user may read, newest first: the current ones, or with ``archived`` the
    archived ones (only those who manage a collection see its archived documents)."""
    documents = documents_visible_to(user).select_related(
        "collection", "uploaded_by", "archived_by"
    )
    documents = documents.filter(archived_at__isnull=not archived)
    if collection:
        collection_id = parse_id(collection)
        if collection_id is None:
            documents = documents.filter(collection__slug=str(collection))
        else:
            documents = documents.filter(collection_id=collection_id)
    if status:
        documents = documents.filter(status=status)
    return documents.order_by("-updated_at", "-id")


def document_get(user: AnyUser, document_id: int) -> Document:
    """One readable document; a forbidden one answers like a missing one."""
    return (
        documents_visible_to(user).select_related("collection", "archived_by").get(pk=document_id)
    )


def managed_document_get(user: AnyUser, document_id: int) -> Document:
    """One document of a collection ``user`` manages (to archive, restore or delete it);
    DoesNotExist otherwise, whether it is missing, unreadable or only readable."""
    return documents_managed_by(user).select_related("collection").get(pk=document_id)


def documents_withdrawn(user: AnyUser, document_ids: list[int]) -> dict[int, str]:
    """Of documents referred to earlier (an answer's citations), those withdrawn since:
    ``"deleted"`` when no such document exists any more, ``"archived"`` when it is archived
    in a collection ``user`` reads but does not manage (managers still open it). Documents
    ``user`` may open, and archived ones of collections they may not read, are left out."""
    wanted = set(document_ids)
    if not wanted:
        return {}
    existing = set(Document.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    archived = (
        Document.objects.filter(
            pk__in=existing,
            archived_at__isnull=False,
            collection__in=collections_visible_to(user),
        )
        .exclude(pk__in=documents_visible_to(user).filter(pk__in=existing).values("pk"))
        .values_list("pk", flat=True)
    )
    return {
        **dict.fromkeys(wanted - existing, "deleted"),
        **dict.fromkeys(archived, "archived"),
    }


def chunk_get(user: AnyUser, chunk_id: int) -> Chunk:
    """One chunk of a readable collection (with its document); DoesNotExist otherwise, also
    for a chunk of an archived document (it belongs to no collection meanwhile)."""
    return (
        Chunk.objects.filter(collection_id__in=collections_visible_to(user).values("id"))
        .select_related("document", "collection")
        .defer("embedding")
        .get(pk=chunk_id)
    )


def chunk_collection_ids(user: AnyUser, chunk_ids: list[int]) -> dict[int, int]:
    """The collection of each of ``chunk_ids`` that ``user`` may read (chunk id -> collection
    id); chunks of collections they may not read, and chunks that are gone, are left out."""
    if not chunk_ids:
        return {}
    return dict(
        Chunk.objects.filter(
            pk__in=chunk_ids, collection_id__in=collections_visible_to(user).values("id")
        ).values_list("pk", "collection_id")
    )


def document_chunks(document: Document) -> QuerySet[Chunk]:
    return Chunk.objects.filter(document=document).order_by("ordinal").defer("embedding")


def documents_needing_reindex() -> QuerySet[Document]:
    """Documents with chunks embedded by another model than the configured one."""
    model_id = get_backend().model_id
    stale = Chunk.objects.filter(document=OuterRef("pk")).exclude(embedding_model=model_id)
    return Document.objects.filter(Exists(stale), collection__evaluation_run="")


def document_counts_by_status() -> dict[str, int]:
    """How many documents are in each status, all collections (operations metrics: counts
    only, nothing any user reads)."""
    rows = Document.objects.order_by().values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def documents_live_versions(document_ids: list[int]) -> dict[int, int]:
    """The live (searchable) version of each of ``document_ids`` that still exists (document
    id -> version; 0: nothing searchable). For an answer's lineage: a source cited version N
    of a document that now answers with version M. No policy: ids and numbers only."""
    return dict(Document.objects.filter(pk__in=document_ids).values_list("pk", "live_version"))


def golden_questions(collection: Collection) -> QuerySet[GoldenQuestion]:
    return GoldenQuestion.objects.filter(collection=collection).prefetch_related(
        "expected_documents"
    )


def golden_examples(collection: Collection, k: int = 10) -> list[fusion.Example]:
    """Both sides' candidates for each golden question of ``collection`` with expected
    documents (as a search of ``k`` results sees them: the same candidate pool), for a fit
    or an evaluation. Searches the collection whole: it is an owner's operation."""
    examples = []
    for golden in golden_questions(collection):
        expected = {str(document.pk): 1 for document in golden.expected_documents.all()}
        if not expected:
            continue
        sides = search_sides(golden.question, [collection.pk], SearchMode.HYBRID, candidate_pool(k))
        chunk_ids = {chunk_id for chunk_id, _ in sides.dense} | {c for c, _ in sides.keyword}
        documents = Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "document_id")
        examples.append(
            fusion.Example(
                dense=sides.dense,
                keyword=sides.keyword,
                relevant=expected,
                document_of={pk: str(document_id) for pk, document_id in documents},
            )
        )
    return examples
