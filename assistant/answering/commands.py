"""Typed commands: the assistant's tools without a language model (they work with one too).

    /search QUERY [in COLLECTION]
    /customer QUERY
    /prefill FORM CUSTOMER [account=ID] [transaction=ID]
    /escalate REASON
    /help

The person typed the command, so it runs the tool directly as them (``direct=True``); the
tool still goes through the same permission checks and audit as a model's call.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from assistant.answering.citations import neutralise_markers
from assistant.answering.sources import ChunkSource, CustomerSource
from assistant.answering.types import CustomerCard
from assistant.tools import ToolContext, tool_run
from knowledge.customers.selectors import customers_visible_to
from portal.validation import parse_id

HELP = """\
Commands (they run as you, with your permissions):

- `/search QUERY` or `/search QUERY in COLLECTION`: passages from the documents you may read
- `/customer QUERY`: find a customer by number, email, phone, last four digits or name
- `/prefill FORM CUSTOMER [account=ID] [transaction=ID]`: a draft of a form (for example \
`/prefill card-dispute CUS-000012 transaction=345`) for you to review and submit
- `/escalate REASON`: hand this conversation to a supervisor
- `/help`: this list"""

COMMANDS = ("search", "customer", "prefill", "escalate", "help")
_IN_COLLECTION = re.compile(r"^(?P<query>.+?)\s+in\s+(?P<collection>[a-z0-9][a-z0-9_-]*)$", re.I)


def is_command(text: str) -> bool:
    """Whether ``text`` is one of the commands (a slash and a known word)."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return False
    return stripped[1:].split(maxsplit=1)[0].lower() in COMMANDS


def _customer_id(context: ToolContext, value: str) -> int | None:
    pk = parse_id(value)
    if pk is not None:
        return pk
    row = (
        customers_visible_to(context.user)
        .filter(customer_number__iexact=value)
        .values_list("pk", flat=True)
        .first()
    )
    return row


def _prefill_arguments(context: ToolContext, rest: str) -> dict[str, Any] | str:
    try:
        words = shlex.split(rest)
    except ValueError:
        return "Could not read the command; check the quotes."
    if len(words) < 2:
        return "Usage: `/prefill FORM CUSTOMER [account=ID] [transaction=ID]`."
    arguments: dict[str, Any] = {"form_slug": words[0].lower()}
    customer_id = _customer_id(context, words[1])
    if customer_id is None:
        return f"No customer {words[1]} that you may see."
    arguments["customer_id"] = customer_id
    for word in words[2:]:
        key, _, value = word.partition("=")
        name = {"account": "account_id", "transaction": "transaction_id"}.get(key.lower())
        pk = parse_id(value)
        if name is None or pk is None:
            return f"Not understood: `{word}` (use account=ID or transaction=ID)."
        arguments[name] = pk
    return arguments


def _passages(context: ToolContext) -> str:
    lines = []
    for source in context.sources.items:
        if isinstance(source, ChunkSource):
            text = " ".join(source.text.split())
            excerpt = text[:280] + ("…" if len(text) > 280 else "")
            lines.append(f"- **{source.title}**: {excerpt} [{source.number}]")
    return "\n".join(lines)


def _customers(context: ToolContext) -> str:
    lines = []
    for source in context.sources.items:
        if isinstance(source, CustomerSource):
            view = source.customer
            about = neutralise_markers(f"{view.full_name}, {view.city} ({view.region_name})")
            lines.append(f"- **{view.customer_number}** {about} [{source.number}]")
            card: CustomerCard = {
                "type": "customer",
                "customer_id": view.id,
                "customer_number": view.customer_number,
                "name": view.full_name,
            }
            context.cards.append(card)
    return "\n".join(lines)


def command_run(context: ToolContext, text: str) -> str:
    """Run the command in ``text``; the markdown reply (tool cards go to ``context.cards``)."""
    name, _, rest = text.strip()[1:].partition(" ")
    name, rest = name.lower(), rest.strip()
    if name == "help":
        return HELP
    if name == "search":
        if not rest:
            return "Usage: `/search QUERY` or `/search QUERY in COLLECTION`."
        arguments: dict[str, Any] = {"query": rest}
        match = _IN_COLLECTION.match(rest)
        if match:
            arguments = {"query": match["query"], "collection": match["collection"].lower()}
        outcome = tool_run(context, "search_knowledge", arguments)
        return (_passages(context) or outcome.summary) if outcome.ok else outcome.summary
    if name == "customer":
        if not rest:
            return "Usage: `/customer QUERY`."
        outcome = tool_run(context, "lookup_customer", {"query": rest})
        return (_customers(context) or outcome.summary) if outcome.ok else outcome.summary
    if name == "prefill":
        parsed = _prefill_arguments(context, rest)
        if isinstance(parsed, str):
            return parsed
        outcome = tool_run(context, "prefill_form", parsed)
        if not outcome.ok:
            return outcome.summary
        return outcome.summary[0].upper() + outcome.summary[1:] + ": review it and submit it."
    if name == "escalate":
        outcome = tool_run(context, "escalate_to_human", {"reason": rest or "Asked for a person."})
        return outcome.summary[0].upper() + outcome.summary[1:] if outcome.ok else outcome.summary
    return HELP
