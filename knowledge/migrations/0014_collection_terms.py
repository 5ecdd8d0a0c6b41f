"""BM25's corpus statistics per collection, kept by statement triggers on the chunk table.

A keyword search counted every readable chunk and averaged their lengths for its corpus
statistics (an index-only scan of all of them: 42 ms for 500,000 chunks, growing with the
corpus). Three statement triggers (insert, delete, update: PostgreSQL allows no column list
with transition tables; an update that moves nothing adds nothing)
add each statement's changes to ``knowledge_collectionterms`` in the same transaction,
collections in id order (two statements cannot deadlock on them), and drop the row of a
collection left without chunks; a TRUNCATE of the chunks empties it. The index the count
read is dropped. After a data-only restore of the chunk table (which fires the insert
trigger), rebuild the table with the INSERT ... SELECT at the end of FORWARD.
"""

from django.db import migrations, models

FORWARD = """
CREATE FUNCTION knowledge_collectionterms_apply(ids bigint[], chunks bigint[], terms bigint[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO knowledge_collectionterms AS s (collection_id, chunks, terms)
    SELECT d.id, d.chunks, d.terms FROM unnest(ids, chunks, terms) AS d(id, chunks, terms)
    ORDER BY d.id
    ON CONFLICT (collection_id) DO UPDATE
        SET chunks = s.chunks + excluded.chunks, terms = s.terms + excluded.terms;
    DELETE FROM knowledge_collectionterms WHERE collection_id = ANY(ids) AND chunks <= 0;
$$;

CREATE FUNCTION knowledge_chunk_terms_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM knowledge_collectionterms_apply(array_agg(id), array_agg(n), array_agg(t))
    FROM (SELECT collection_id AS id, count(*) AS n, sum(term_count) AS t FROM added
          WHERE collection_id IS NOT NULL GROUP BY collection_id) d
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;
CREATE FUNCTION knowledge_chunk_terms_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM knowledge_collectionterms_apply(array_agg(id), array_agg(n), array_agg(t))
    FROM (SELECT collection_id AS id, -count(*) AS n, -sum(term_count) AS t FROM gone
          WHERE collection_id IS NOT NULL GROUP BY collection_id) d
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;
CREATE FUNCTION knowledge_chunk_terms_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM knowledge_collectionterms_apply(array_agg(id), array_agg(n), array_agg(t))
    FROM (SELECT collection_id AS id, sum(n) AS n, sum(t) AS t FROM (
              SELECT collection_id, 1 AS n, term_count AS t FROM new_rows
              UNION ALL
              SELECT collection_id, -1, -term_count FROM old_rows
          ) u WHERE collection_id IS NOT NULL GROUP BY collection_id) d
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER knowledge_chunk_terms_insert AFTER INSERT ON knowledge_chunk
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_terms_insert();
CREATE TRIGGER knowledge_chunk_terms_delete AFTER DELETE ON knowledge_chunk
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_terms_delete();
CREATE FUNCTION knowledge_chunk_terms_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM knowledge_collectionterms;
    RETURN NULL;
END
$$;
CREATE TRIGGER knowledge_chunk_terms_truncate AFTER TRUNCATE ON knowledge_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_terms_truncate();
CREATE TRIGGER knowledge_chunk_terms_update AFTER UPDATE ON knowledge_chunk
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_terms_update();

INSERT INTO knowledge_collectionterms (collection_id, chunks, terms)
SELECT collection_id, count(*), sum(term_count) FROM knowledge_chunk
WHERE collection_id IS NOT NULL GROUP BY collection_id;
"""
REVERSE = """
DROP TRIGGER IF EXISTS knowledge_chunk_terms_insert ON knowledge_chunk;
DROP TRIGGER IF EXISTS knowledge_chunk_terms_delete ON knowledge_chunk;
DROP TRIGGER IF EXISTS knowledge_chunk_terms_update ON knowledge_chunk;
DROP TRIGGER IF EXISTS knowledge_chunk_terms_truncate ON knowledge_chunk;
DROP FUNCTION IF EXISTS knowledge_chunk_terms_truncate();
DROP FUNCTION IF EXISTS knowledge_chunk_terms_insert();
DROP FUNCTION IF EXISTS knowledge_chunk_terms_delete();
DROP FUNCTION IF EXISTS knowledge_chunk_terms_update();
DROP FUNCTION IF EXISTS knowledge_collectionterms_apply(bigint[], bigint[], bigint[]);
"""


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0013_posting_cascade_trigger")]

    operations = [
        migrations.CreateModel(
            name="CollectionTerms",
            fields=[
                ("collection_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("chunks", models.BigIntegerField(default=0)),
                ("terms", models.BigIntegerField(default=0)),
            ],
        ),
        # The first fill reads the chunks through the index before it goes.
        migrations.RunSQL(FORWARD, REVERSE),
        migrations.RemoveIndex(model_name="chunk", name="chunk_collection_terms"),
    ]
