"""``search_knowledge``: passages of the documents the user may read, as numbered sources."""

from __future__ import annotations

from typing import Any

from assistant.tools.base import Tool, ToolContext, ToolOutcome, ToolRefused, object_schema
from knowledge.permissions import collections_visible_to
from knowledge.selectors import MAX_QUERY_LENGTH, chunk_search
from portal.permissions import Action

SEARCH_RESULTS = 4


def search_knowledge(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    query = arguments["query"]
    collection = arguments.get("collection")
    collections = None
    if collection:
        if not collections_visible_to(context.user).filter(slug=collection).exists():
            raise ToolRefused(f"There is no collection '{collection}' that this user may read.")
        collections = [collection]
    result = chunk_search(context.user, query, k=SEARCH_RESULTS, collections=collections)
    found = context.sources.add_hits(result.hits)
    if not found:
        return ToolOutcome(True, "No passages found.", f"searched “{query}”: nothing found")
    content = context.sources.block(list(found))
    return ToolOutcome(True, content, f"searched “{query}”: {len(result.hits)} passages")


TOOL = Tool(
    name="search_knowledge",
    description=(
        "Search the bank's documents the user may read for passages that answer a "
        "question. Use it when the sources you were given do not answer. Cite the "
        "passages it returns by their [n] numbers."
    ),
    parameters=object_schema(
        {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH},
            "collection": {
                "type": "string",
                "maxLength": 100,
                "description": "Optional collection slug to search in.",
            },
        },
        ["query"],
    ),
    action=Action.SEARCH_KNOWLEDGE,
    run=search_knowledge,
)
