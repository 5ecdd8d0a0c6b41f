"""What it takes to explain an answer later (docs/records.md, "Answer lineage").

Stored with every assistant message (``Message.lineage``, and the exact source texts,
encrypted, in ``Message.source_texts``):

- the model asked for and the model the server says answered;
- ``prompt_version``: SHA-256 of the system prompt and every tool's schema, as the code
  has them (a change of either shows as a new version);
- the retrieval settings of the search behind the sources (mode, k, candidates, fusion,
  ef_search, embedding model);
- every source put before the model: its number, kind and ids (chunk, document, version;
  customer) and the SHA-256 of the exact text the model read (``source_block``);
- the citations kept and removed, and the tools called.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from django.conf import settings

from assistant.answering.prompt import SYSTEM_PROMPT
from assistant.answering.sources import ChunkSource, CustomerSource, Source, source_block
from assistant.tools import TOOLS
from knowledge.embeddings import get_backend
from knowledge.selectors import candidate_pool

LINEAGE_VERSION = 1


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def prompt_version() -> str:
    """SHA-256 of the system prompt and all the tools' schemas (sorted by name)."""
    specs = sorted((tool.spec() for tool in TOOLS.values()), key=lambda s: json.dumps(s))
    return _sha256(SYSTEM_PROMPT + "\n" + json.dumps(specs, sort_keys=True))


def retrieval_settings() -> dict[str, Any]:
    """The settings of the assistant's search (``gather_sources`` → ``chunk_search``)."""
    k = settings.ASSISTANT_MAX_SOURCES
    try:
        embedding_model = get_backend().model_id
    except Exception:  # the model could not load: the answer says so in its error
        embedding_model = settings.EMBEDDING_MODEL
    return {
        "mode": "hybrid",
        "k": k,
        "candidates": candidate_pool(k),
        "fusion": settings.KNOWLEDGE_FUSION,
        **(
            {"rrf_k": settings.KNOWLEDGE_RRF_K}
            if settings.KNOWLEDGE_FUSION == "rrf"
            # Each chunk source records the weight it was fused with (its collection's).
            else {"dense_weight_default": settings.KNOWLEDGE_FUSION_DENSE_WEIGHT}
        ),
        "ef_search": settings.KNOWLEDGE_HNSW_EF_SEARCH,
        "embedding_model": embedding_model,
    }


def _source_entry(source: Source, text: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"n": source.number, "kind": source.kind, "sha256": _sha256(text)}
    if isinstance(source, ChunkSource):
        entry.update(
            chunk_id=source.hit.chunk_id,
            document_id=source.hit.document_id,
            version=source.hit.version,
        )
        if source.hit.dense_weight is not None:
            entry["dense_weight"] = source.hit.dense_weight
    elif isinstance(source, CustomerSource):
        entry["customer_id"] = source.customer.id
    return entry


def answer_lineage(
    *,
    sources: list[Source],
    model_requested: str,
    model_reported: str,
    kept: list[int],
    removed: list[int],
    tools: Sequence[Mapping[str, Any]],
    searched: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(lineage, source texts) of an answer: see the module's doc."""
    blocks = [source_block(source) for source in sources]
    texts: list[dict[str, Any]] = [
        {"n": s.number, "text": text} for s, text in zip(sources, blocks, strict=True)
    ]
    lineage = {
        "version": LINEAGE_VERSION,
        "prompt_version": prompt_version(),
        "model": {"requested": model_requested, "reported": model_reported},
        "retrieval": retrieval_settings() if searched else None,
        "sources": [
            _source_entry(source, text) for source, text in zip(sources, blocks, strict=True)
        ],
        "citations": {"kept": kept, "removed": removed},
        "tools": [{"name": call.get("name"), "ok": call.get("ok")} for call in tools],
    }
    return lineage, texts
