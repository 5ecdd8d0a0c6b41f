"""Postings: deleted with their chunks by a statement trigger instead of a foreign key.

The foreign key's check ran for every posting written (about 100 a chunk: a lookup and a
row lock on the chunk), almost half the cost of writing them (bench/keyword_index.py). One
AFTER DELETE trigger per statement deletes the postings of all the chunks that statement
deleted, through the primary key (chunk_id, term); the separate index on chunk_id that
Django made for the foreign key is dropped (the primary key's first column serves).
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
ALTER TABLE knowledge_posting DROP CONSTRAINT IF EXISTS knowledge_posting_chunk_cascade;
-- "= ANY(ARRAY(...))": always the primary key, whatever plan a first large delete in the
-- session left cached for the function (a join over gone could become a scan of postings).
CREATE FUNCTION knowledge_chunk_postings_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM knowledge_posting WHERE chunk_id = ANY(ARRAY(SELECT id FROM gone));
    RETURN NULL;
END
$$;
CREATE TRIGGER knowledge_chunk_postings_delete AFTER DELETE ON knowledge_chunk
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_postings_delete();
-- TRUNCATE fires no delete trigger (the foreign key used to refuse it): empty the postings
-- too (a TRUNCATE of both together, as Django's test flush does, leaves nothing to delete).
CREATE FUNCTION knowledge_chunk_postings_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM knowledge_posting;
    RETURN NULL;
END
$$;
CREATE TRIGGER knowledge_chunk_postings_truncate AFTER TRUNCATE ON knowledge_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_postings_truncate();
"""
# Reversed after the AlterField below is (which adds Django's plain foreign key back).
REVERSE = """
DROP TRIGGER IF EXISTS knowledge_chunk_postings_truncate ON knowledge_chunk;
DROP FUNCTION IF EXISTS knowledge_chunk_postings_truncate();
DROP TRIGGER IF EXISTS knowledge_chunk_postings_delete ON knowledge_chunk;
DROP FUNCTION IF EXISTS knowledge_chunk_postings_delete();
DO $$
DECLARE fk text;
BEGIN
    FOR fk IN SELECT conname FROM pg_constraint
              WHERE conrelid = 'knowledge_posting'::regclass AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE knowledge_posting DROP CONSTRAINT %I', fk);
    END LOOP;
END $$;
ALTER TABLE knowledge_posting ADD CONSTRAINT knowledge_posting_chunk_cascade
    FOREIGN KEY (chunk_id) REFERENCES knowledge_chunk (id) ON DELETE CASCADE;
"""


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0012_document_claims")]

    operations = [
        migrations.RunSQL(FORWARD, REVERSE),
        # The foreign key is gone already; this drops Django's index on chunk_id.
        migrations.AlterField(
            model_name="posting",
            name="chunk",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="knowledge.chunk",
            ),
        ),
    ]
