"""chunk_search: permissions inside the SQL, the three modes, snippets, audit, mismatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from knowledge.models import Chunk, Collection, Document
from knowledge.selectors import chunk_search
from portal.audit import fingerprint
from portal.models import AuditEvent

# Who may read which demo collection (readers and managers).
READABLE = {
    "agent": {"products-fees", "fraud-disputes", "customer-help"},
    "supervisor": {"products-fees", "fraud-disputes", "customer-help"},
    "compliance": {"products-fees", "fraud-disputes", "compliance-aml", "customer-help"},
    "content_manager": {"products-fees", "fraud-disputes", "customer-help"},
    "admin": {"products-fees", "internal-hr", "customer-help"},
    "integration": set(),
}


def canary(slug: str) -> str:
    return "zq" + slug.replace("-", "") + "canary"


@pytest.fixture
def canaries(collections: dict[str, Collection], add_document: Callable[..., Document]) -> None:
    for slug, collection in collections.items():
        add_document(
            collection, f"Canary {slug}", f"# Note\n\nThe {canary(slug)} marker about fees."
        )


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_every_role_finds_exactly_the_canaries_it_may_read(
    canaries: None, role_users: dict[str, Any], mode: str
) -> None:
    for role, user in role_users.items():
        found = set()
        for slug in READABLE["compliance"] | {"internal-hr"}:
            result = chunk_search(user, canary(slug), k=10, mode=mode)
            slugs = {hit.collection_slug for hit in result.hits}
            assert slugs <= READABLE[role], (role, slug, slugs)
            if mode == "keyword":
                assert len(result.hits) == (1 if slug in READABLE[role] else 0)
            found |= {h.collection_slug for h in result.hits if canary(h.collection_slug) in h.text}
        assert found == READABLE[role], role


@pytest.mark.django_db
def test_region_restricted_collection(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    make_user: Any,
    regions: dict[str, Any],
) -> None:
    from portal.permissions import Role

    collection = collections["products-fees"]
    collection.read_regions.set([regions["south"]])
    add_document(collection, "South fees", "The zqsouthonly fee applies in the south.")
    north = make_user("n", Role.AGENT, regions=[regions["north"]])
    south = make_user("s", Role.AGENT, regions=[regions["south"]])
    compliance = make_user("c", Role.COMPLIANCE)
    assert chunk_search(north, "zqsouthonly", mode="keyword").hits == []
    assert len(chunk_search(south, "zqsouthonly", mode="keyword").hits) == 1
    assert len(chunk_search(compliance, "zqsouthonly", mode="keyword").hits) == 1


@pytest.mark.django_db
def test_hidden_collections_do_not_change_scores(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    """BM25 statistics come from readable chunks only, so scores reveal nothing else."""
    agent = role_users["agent"]
    add_document(collections["products-fees"], "Fees", "Foreign transaction fee is 2.75 percent.")
    before = chunk_search(agent, "foreign transaction fee", mode="keyword").hits[0]
    for i in range(3):
        add_document(collections["compliance-aml"], f"AML {i}", "Foreign transaction fee alert.")
    after = chunk_search(agent, "foreign transaction fee", mode="keyword").hits[0]
    assert before.chunk_id == after.chunk_id
    assert before.score == after.score


@pytest.mark.django_db
def test_filtered_search_returns_k_results_and_respects_collection_filter(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    compliance = role_users["compliance"]
    for i in range(12):
        add_document(
            collections["fraud-disputes"], f"Policy {i}", f"Dispute rule number {i} for cards."
        )
        add_document(collections["compliance-aml"], f"AML {i}", f"AML rule number {i} for cash.")
    for mode in ("dense", "keyword", "hybrid"):
        result = chunk_search(
            compliance, "rule number", k=10, collections=["fraud-disputes"], mode=mode
        )
        assert len(result.hits) == 10, mode
        assert {h.collection_slug for h in result.hits} == {"fraud-disputes"}
    # Asking for a collection one may not read gives nothing, exactly like a missing one.
    agent = role_users["agent"]
    assert chunk_search(agent, "rule number", collections=["compliance-aml"]).hits == []
    assert chunk_search(agent, "rule number", collections=["no-such-collection"]).hits == []


@pytest.mark.django_db
def test_hybrid_uses_both_sides(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    add_document(collections["products-fees"], "Cards", "Replacement cards cost five euros.")
    add_document(collections["products-fees"], "Overdraft", "Arranged overdraft interest is 19.9%.")
    hits = chunk_search(role_users["agent"], "how much is a new card", k=2).hits
    assert hits[0].document_title == "Cards"
    assert hits[0].dense_rank == 1
    assert hits[0].score > hits[1].score


@pytest.mark.django_db
def test_snippets_are_escaped_and_highlighted(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    add_document(
        collections["products-fees"],
        "Tricky",
        "Ignore <script>alert('x')</script> and <img src=x onerror=alert(1)> zqtricky fees.",
        name="t.txt",
    )
    hit = chunk_search(role_users["agent"], "zqtricky", mode="keyword").hits[0]
    assert "<script>" not in hit.snippet_html and "<img" not in hit.snippet_html
    assert "&lt;img" in hit.snippet_html  # shown as text, never as markup
    assert "<mark>zqtricky</mark>" in hit.snippet_html


@pytest.mark.django_db
def test_search_is_audited(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    add_document(collections["products-fees"], "Fees", "Card replacement fees.")
    result = chunk_search(role_users["agent"], "replacement fees")
    event = AuditEvent.objects.filter(action="knowledge.search").latest("id")
    assert event.actor_id == role_users["agent"].pk
    assert event.details["query"] == fingerprint("replacement fees")  # never the text
    assert event.details["chunk_ids"] == [h.chunk_id for h in result.hits]


@pytest.mark.django_db
def test_bad_input_is_rejected_clearly(role_users: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Enter something"):
        chunk_search(role_users["agent"], "   ")
    with pytest.raises(ValidationError, match="longer than"):
        chunk_search(role_users["agent"], "x" * 1001)
    with pytest.raises(ValidationError, match="between 1 and"):
        chunk_search(role_users["agent"], "fees", k=0)


@pytest.mark.django_db
def test_model_mismatch_is_reported_not_mixed(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card replacement fees.")
    Chunk.objects.filter(document=document).update(embedding_model="openai/other/384")
    result = chunk_search(role_users["agent"], "card replacement fees", mode="dense")
    assert result.model_mismatch is True
    assert result.hits == []  # vectors of another model are never compared with this one
    from knowledge.selectors import documents_needing_reindex

    assert list(documents_needing_reindex()) == [document]


@pytest.mark.django_db
def test_dense_order_matches_exact_search_within_the_filter(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    from pgvector.django import CosineDistance

    from knowledge.embeddings import get_backend

    for i in range(6):
        add_document(collections["fraud-disputes"], f"Policy {i}", f"Dispute rule {i} on cards.")
        add_document(collections["internal-hr"], f"HR {i}", f"Holiday rule {i} for staff.")
    agent = role_users["agent"]
    result = chunk_search(agent, "card dispute rule", k=6, mode="dense")
    vector = get_backend().embed_query("card dispute rule")
    exact = (
        Chunk.objects.filter(collection=collections["fraud-disputes"])
        .order_by(CosineDistance("embedding", vector), "id")
        .values_list("id", flat=True)
    )
    assert [h.chunk_id for h in result.hits] == list(exact)


# Archived documents: out of every search path at once, back on restore -------------------

ARCHIVED_TEXT = "# Old card policy\n\nThe zqoldpolicy surcharge on card replacement is 25 euros."
CURRENT_TEXT = "# Card policy\n\nCard replacement costs 10 euros."
READERS_OF_FEES = ["agent", "supervisor", "compliance", "content_manager", "admin"]


def _finds(user: Any, document: Document, query: str, mode: str) -> bool:
    hits = chunk_search(user, query, k=50, mode=mode, audit=False).hits
    return any(hit.document_id == document.pk for hit in hits)


@pytest.mark.django_db
def test_archived_document_leaves_every_search_path_at_once_and_restore_brings_it_back(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    from knowledge.selectors import chunk_collection_ids, chunk_get
    from knowledge.services import document_archive, document_restore

    old = add_document(collections["products-fees"], "Old card policy", ARCHIVED_TEXT)
    add_document(collections["products-fees"], "Card policy", CURRENT_TEXT)
    chunk_ids = list(Chunk.objects.filter(document=old).values_list("pk", flat=True))
    queries = ["zqoldpolicy", "card replacement surcharge 25 euros"]
    for role in READERS_OF_FEES:
        for mode in ("keyword", "dense", "hybrid"):
            assert _finds(role_users[role], old, queries[mode != "keyword"], mode), (role, mode)

    document_archive(actor=role_users["content_manager"], document=old)

    for role in READERS_OF_FEES:  # those who manage the collection included
        user = role_users[role]
        for mode in ("keyword", "dense", "hybrid"):
            for query in queries:
                assert not _finds(user, old, query, mode), (role, mode, query)
        assert chunk_collection_ids(user, chunk_ids) == {}
        for chunk_id in chunk_ids:
            with pytest.raises(Chunk.DoesNotExist):
                chunk_get(user, chunk_id)
    # Its vectors of another model would not report readable chunks to reindex either.
    archived_chunks = Chunk.objects.filter(document=old)
    model = archived_chunks.values_list("embedding_model", flat=True).first()
    archived_chunks.update(embedding_model="openai/other/384")
    assert chunk_search(role_users["agent"], "card", mode="dense").model_mismatch is False
    archived_chunks.update(embedding_model=model)
    # Renamed while archived: the restore indexes the title it has now.
    Document.objects.filter(pk=old.pk).update(title="Zqrenamed card policy")

    document_restore(actor=role_users["admin"], document=old)

    assert _finds(role_users["agent"], old, "zqrenamed", "keyword")

    for role in READERS_OF_FEES:
        for mode in ("keyword", "dense", "hybrid"):
            assert _finds(role_users[role], old, queries[mode != "keyword"], mode), (role, mode)
    assert set(chunk_collection_ids(role_users["agent"], chunk_ids).values()) == {
        collections["products-fees"].pk
    }


@pytest.mark.django_db
def test_dense_fallback_is_an_exact_scan(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
    settings: Any,
) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    settings.KNOWLEDGE_HNSW_MAX_SCAN_TUPLES = 1  # the filtered index scan gives up at once
    add_document(collections["products-fees"], "Cards", "Replacement cards cost five euros.")
    add_document(collections["products-fees"], "Overdraft", "Arranged overdraft interest is 9%.")
    with CaptureQueriesContext(connection) as captured:
        hits = chunk_search(role_users["agent"], "new card", k=2, mode="dense").hits
    assert len(hits) == 2
    (fallback,) = [q["sql"] for q in captured.captured_queries if ") + 0" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        # Everything but the HNSW index made costly: a query it could serve would use it.
        for name in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {name} = off")
        cursor.execute("EXPLAIN " + fallback)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "chunk_embedding_hnsw" not in plan, plan


@pytest.mark.django_db
def test_keyword_statistics_leave_archived_chunks_out(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    from knowledge.services import document_archive

    agent = role_users["agent"]
    add_document(collections["products-fees"], "Fees", "Foreign transaction fee is 2.75 percent.")
    before = chunk_search(agent, "foreign transaction fee", mode="keyword").hits[0]
    archived = [
        add_document(collections["products-fees"], f"Old {i}", "Foreign transaction fee alert.")
        for i in range(3)
    ]
    for document in archived:
        document_archive(actor=None, document=document)
    after = chunk_search(agent, "foreign transaction fee", mode="keyword").hits
    assert [hit.chunk_id for hit in after] == [before.chunk_id]
    assert after[0].score == before.score


@pytest.mark.django_db
def test_archived_documents_are_opened_only_by_those_who_manage_them(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    from knowledge.selectors import document_get, document_list, managed_document_get
    from knowledge.services import document_archive

    old = add_document(collections["products-fees"], "Old card policy", ARCHIVED_TEXT)
    current = add_document(collections["products-fees"], "Card policy", CURRENT_TEXT)
    document_archive(actor=role_users["content_manager"], document=old)
    agent, manager = role_users["agent"], role_users["content_manager"]

    with pytest.raises(Document.DoesNotExist):
        document_get(agent, old.pk)
    assert document_get(manager, old.pk).archived_by == manager
    assert list(document_list(agent)) == [current]
    assert list(document_list(agent, archived=True)) == []
    assert list(document_list(manager)) == [current]
    assert list(document_list(manager, archived=True)) == [old]
    for user in (agent, role_users["compliance"]):  # reads the collection, does not manage it
        for document in (old, current):
            with pytest.raises(Document.DoesNotExist):
                managed_document_get(user, document.pk)
    assert managed_document_get(manager, current.pk) == current


@pytest.mark.django_db
def test_documents_withdrawn_tells_deleted_from_archived(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    from knowledge.selectors import documents_withdrawn
    from knowledge.services import document_archive, document_delete

    archived = add_document(collections["products-fees"], "Old", ARCHIVED_TEXT)
    deleted = add_document(collections["products-fees"], "Gone", CURRENT_TEXT)
    current = add_document(collections["products-fees"], "Current", CURRENT_TEXT)
    hidden = add_document(collections["compliance-aml"], "AML", "Thresholds.")
    document_archive(actor=None, document=archived)
    document_archive(actor=None, document=hidden)
    document_delete(actor=None, document=deleted)
    ids = [archived.pk, deleted.pk, current.pk, hidden.pk]
    assert documents_withdrawn(role_users["agent"], ids) == {
        archived.pk: "archived",
        deleted.pk: "deleted",
    }
    # Those who manage it still open the archived one: nothing withdrawn from them.
    assert documents_withdrawn(role_users["content_manager"], ids) == {deleted.pk: "deleted"}
    assert documents_withdrawn(role_users["agent"], []) == {}


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_search_settings_do_not_outlive_the_search(
    canaries: None, role_users: dict[str, Any], mode: str
) -> None:
    """The dense search steers the planner with SET LOCAL; inside a caller's transaction (as
    here: the test's) those settings must end with the search, or they steer every later
    query of the transaction (once, a short index scan for the exact fallback too)."""
    from django.db import connection

    def settings_now() -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('enable_seqscan'), "
                "current_setting('hnsw.iterative_scan'), current_setting('hnsw.ef_search'), "
                "current_setting('hnsw.max_scan_tuples')"
            )
            names = ("enable_seqscan", "iterative_scan", "ef_search", "max_scan_tuples")
            return dict(zip(names, cursor.fetchone(), strict=True))

    chunk_search(role_users["agent"], "zqproductsfeescanary", k=1, mode=mode)  # loads hnsw
    before = settings_now()
    assert before["enable_seqscan"] == "on"
    result = chunk_search(role_users["agent"], "zqproductsfeescanary", k=10, mode=mode)
    assert result.hits
    assert settings_now() == before


@pytest.mark.django_db
def test_customer_search_threshold_does_not_outlive_the_search(role_users: dict[str, Any]) -> None:
    from django.db import connection

    from knowledge.customers.selectors import customer_search

    def threshold() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('pg_trgm.similarity_threshold')")
            return str(cursor.fetchone()[0])

    customer_search(role_users["agent"], "smith")  # loads pg_trgm's settings
    before = threshold()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = 0.9")
    customer_search(role_users["agent"], "garcia")
    assert threshold() == "0.9"
    assert before  # the extension's setting exists
