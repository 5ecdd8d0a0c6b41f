"""``lookup_customer``: customers the user may see, masked as they see them, as sources.

A customer found by the user's own words counts as named by the user, so a pre-fill may be
for them; one found by words the model chose does not.
"""

from __future__ import annotations

from typing import Any

from assistant.tools.base import Tool, ToolContext, ToolOutcome, object_schema, said_by_user
from knowledge.customers.selectors import customer_search
from portal.permissions import Action

LOOKUP_RESULTS = 5


def lookup_customer(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    query = arguments["query"]
    found = customer_search(context.user, query, limit=LOOKUP_RESULTS)
    if not found:
        return ToolOutcome(True, "No customer found.", f"looked up “{query}”: no customer")
    named_by_user = context.direct or said_by_user(context, query) is not None
    added = []
    for view in found:
        added.append(context.sources.add_customer(context.user, view))
        if named_by_user:
            context.customers_named.add(view.id)
    return ToolOutcome(
        True, context.sources.block(list(added)), f"looked up “{query}”: {len(found)} found"
    )


TOOL = Tool(
    name="lookup_customer",
    description=(
        "Find a customer by customer number, email, phone, last four digits of an "
        "account or card, or name. Use it only for a customer the user asked about. "
        "Returns customer records (masked as the user sees them) as numbered sources."
    ),
    parameters=object_schema(
        {"query": {"type": "string", "minLength": 2, "maxLength": 200}}, ["query"]
    ),
    action=Action.VIEW_CUSTOMERS,
    run=lookup_customer,
)
