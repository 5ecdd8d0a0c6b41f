"""The HNSW index built with ef_construction 128 instead of 64 (m stays 16).

At one million chunks with a reader of 10% of them, the graph built with 64 found 0.88
(ef_search 400) to 0.93 (ef_search 1,000) of the exact nearest 10 on average, some queries
none; built with 128, 0.93 and 0.98 (worst query 0.80 at 1,000) (docs/benchmarks.md).
The rebuild locks the chunk table until it commits (dropping the index takes an exclusive
lock): searches and ingestion wait meanwhile, about 10 minutes per million chunks on two
cores with ``maintenance_work_mem`` above the graph's size (~2 GiB per million chunks).
Plan it in a maintenance window on a large corpus.
"""

import pgvector.django.indexes
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0014_collection_terms")]

    operations = [
        migrations.RemoveIndex(model_name="chunk", name="chunk_embedding_hnsw"),
        migrations.AddIndex(
            model_name="chunk",
            index=pgvector.django.indexes.HnswIndex(
                ef_construction=128,
                fields=["embedding"],
                m=16,
                name="chunk_embedding_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
    ]
