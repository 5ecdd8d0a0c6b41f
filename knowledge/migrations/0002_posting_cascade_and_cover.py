"""Postings: cascade with their chunk in the database, and a covering index for BM25.

A separate migration because Django adds the foreign key only at the end of 0001.
"""

from django.db import migrations

POSTING_SQL = """
DO $$
DECLARE fk text;
BEGIN
    SELECT conname INTO fk FROM pg_constraint
    WHERE conrelid = 'knowledge_posting'::regclass AND contype = 'f';
    EXECUTE format('ALTER TABLE knowledge_posting DROP CONSTRAINT %I', fk);
END $$;
ALTER TABLE knowledge_posting ADD CONSTRAINT knowledge_posting_chunk_cascade
    FOREIGN KEY (chunk_id) REFERENCES knowledge_chunk (id) ON DELETE CASCADE;
CREATE INDEX knowledge_posting_term_cover
    ON knowledge_posting (term, collection_id) INCLUDE (chunk_id, tf, dl);
"""
POSTING_SQL_REVERSE = "DROP INDEX IF EXISTS knowledge_posting_term_cover;"


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunSQL(POSTING_SQL, POSTING_SQL_REVERSE)]
