"""Everything retrievable: collections, documents with their versions, chunks and postings."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePath

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField


class Sensitivity(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Collection(models.Model):
    """A set of documents read and managed by given roles (and optionally regions)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sensitivity = models.CharField(
        max_length=16, choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    read_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Empty means every region; otherwise readers must serve one of these regions.
    read_regions = models.ManyToManyField("portal.Region", blank=True, related_name="collections")
    manage_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Written for customers (product terms, published policies): the only collections the
    # assistant drafts replies to customers from, whatever the staff member's own rights;
    # a customer's account "reads" these and nothing else (knowledge.permissions).
    customer_facing = models.BooleanField(
        default=False,
        help_text="Written for customers: the assistant may quote it in replies to customers.",
    )
    # A throw-away collection of manage.py evaluate_retrieval: "<host>:<pid>" of the run
    # that owns it, or "kept" (--keep); empty for every real collection. Its documents are
    # ingested by the run itself, never by the workers' sweeps.
    evaluation_run = models.CharField(max_length=120, blank=True, editable=False)
    # Hybrid search's weight of the dense side (knowledge.fusion), fitted from the
    # collection's golden questions by knowledge.services.collection_fusion_fit; None:
    # KNOWLEDGE_FUSION_DENSE_WEIGHT. ``fusion_fit`` keeps the fit's figures.
    fusion_weight = models.FloatField(null=True, blank=True, editable=False)
    fusion_fitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    fusion_fit = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


def _upload_to(instance: models.Model, filename: str) -> str:
    # Random folder and name: nothing of what the uploader called the file (it may name a
    # customer) reaches the disk, a blob's name or the storage's logs; the row keeps the
    # original name. Only a short alphanumeric suffix (".pdf") is kept, for people reading
    # a listing of the storage.
    suffix = PurePath(filename).suffix.lower()
    token = uuid.uuid4().hex
    return f"documents/{token}/{uuid.uuid4().hex}{suffix if _SUFFIX.fullmatch(suffix) else ''}"


class Document(models.Model):
    """A document: ``version`` is its newest upload, ``live_version`` the one search uses.

    An archived document (``archived_at`` set) is out of search and answers, kept for the
    records (those who manage its collection still open it) and restorable; its chunks stay
    but belong to no collection meanwhile (``Chunk.collection``).
    """

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=300)
    file = models.FileField(upload_to=_upload_to, max_length=300, blank=True)
    source_url = models.URLField(blank=True, max_length=1000)
    original_filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    live_version = models.PositiveIntegerField(default=0)  # 0: nothing searchable yet
    effective_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    # Runs of the ingestion task on this version that started and never ended (the worker
    # was killed: hard time limit, lost worker). Back to 0 when a run ends, a new version is
    # uploaded or the document is reprocessed; at KNOWLEDGE_MAX_INGEST_ATTEMPTS it is failed.
    ingest_attempts = models.PositiveSmallIntegerField(default=0)
    # Taken along by another document's ingestion run (one embedding batch for several small
    # documents) until this time: the document's own queued task skips it meanwhile.
    claimed_until = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set and cleared by knowledge.services.document_archive / document_restore only.
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archive_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["collection", "status"]),
            # The pending documents a run may take along (knowledge.ingestion.pipeline).
            models.Index(
                fields=["id"], name="knowledge_doc_pending", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return self.title


class GoldenQuestion(models.Model):
    """A question with the documents that answer it: how a collection's owners say what
    good search results are. They fit the collection's fusion weight and are scored by
    ``manage.py evaluate_retrieval --collection``."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="golden_questions"
    )
    question = models.TextField()
    # Documents of the same collection (knowledge.services.golden_question_save).
    expected_documents = models.ManyToManyField(Document, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection", "id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "question"], name="uniq_golden_question")
        ]

    def __str__(self) -> str:
        return self.question[:80]


class DocumentVersion(models.Model):
    """One upload of a document, kept for its history."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=_upload_to, max_length=300, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    effective_date = models.DateField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="uniq_document_version")
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"


class Chunk(models.Model):
    """A searchable piece of the live version of a document."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # The collection the chunk is searchable in, copied from the document so that the
    # permission filter (``collection_id = ANY(readable)``) needs no join. None while the
    # document is archived: every search path filters on it, so none can return the chunk
    # (and it has no postings); restoring copies the collection back.
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    version = models.PositiveIntegerField()
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, db_index=True)  # sha256 of the embedded text
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=200)
    search_vector = SearchVectorField(null=True)  # filled by SQL in the same transaction
    term_count = models.PositiveIntegerField(default=0)  # BM25 document length
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="uniq_chunk_ordinal")
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["collection", "embedding_model"], name="chunk_collection_model"),
        ]

    def __str__(self) -> str:
        return f"{self.document} #{self.ordinal}"


class Posting(models.Model):
    """One term of one chunk with its frequency: the inverted index BM25 ranks from.

    The database deletes postings with their chunks: a statement trigger on the chunk table
    (migration 0013), so that Django never loads them one by one. Not a foreign key: its
    check ran once per posting (about 100 a chunk) and was almost half of writing them;
    postings are only written by ``index_keywords`` from the chunks it has just read.
    """

    pk = models.CompositePrimaryKey("chunk", "term")
    # No index of its own either: the primary key (chunk_id, term) serves lookups by chunk.
    chunk = models.ForeignKey(
        Chunk, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    term = models.TextField()
    collection_id = models.BigIntegerField()
    tf = models.PositiveIntegerField()
    dl = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.term} in chunk {self.chunk_id}"

    # The covering index that BM25 scans, created in the migration (Django cannot
    # express INCLUDE on this model): (term, collection_id) INCLUDE (chunk_id, tf, dl).


class CollectionTerms(models.Model):
    """BM25's corpus statistics of one collection: its searchable chunks and their terms.

    Kept by statement triggers on the chunk table (migration 0014) in the transaction that
    inserts, deletes or moves chunks, so that a search reads one row per readable collection
    instead of counting every readable chunk (42 ms for 500,000 chunks). Not a foreign key to
    the collection: a deleted collection's row is removed when its last chunk goes.
    """

    collection_id = models.BigIntegerField(primary_key=True)
    chunks = models.BigIntegerField(default=0)
    terms = models.BigIntegerField(default=0)  # the sum of the chunks' term_count

    def __str__(self) -> str:
        return f"collection {self.collection_id}: {self.chunks} chunks"
