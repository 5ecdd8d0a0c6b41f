"""The assistant's tools: what the model (or a typed command) may ask the portal to do.

Each tool runs as the asking user through the same selectors and services as the portal,
so it can never reach a record, field or collection the user cannot. Arguments are checked
against the tool's JSON Schema first; a refused call is reported to the model and the user
and audited. Tool docstrings (``description``) are read by the model: they are instructions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from jsonschema import Draft202012Validator

from assistant.models import Conversation, Message, MessageRole
from assistant.services.handoffs import handoff_create
from assistant.sources import SourceSet
from forms_app.models import FormDefinition, FormSubmission
from forms_app.permissions import submissions_owned_by
from forms_app.selectors import definition_get
from forms_app.services.prefill import prefill
from forms_app.services.submissions import submission_create_draft
from knowledge.customers.selectors import customer_search, customers_visible_to
from knowledge.permissions import collections_visible_to
from knowledge.selectors import MAX_QUERY_LENGTH, chunk_search
from portal.permissions import Action, can
from portal.services import audit_event_record

SEARCH_RESULTS = 4
# Field types whose value the model chooses from a list rather than quotes from the user.
INTERPRETED_TYPES = frozenset({"choice", "multi_choice", "checkbox"})
LOOKUP_RESULTS = 5


@dataclass
class ToolContext:
    """What a tool may use: the asking user, their conversation and this answer's state."""

    user: Any
    conversation: Conversation
    question: Message
    sources: SourceSet
    # Customers the user named (conversation focus, their own words, lookups of their
    # words): the only customers a model-initiated pre-fill may be for.
    customers_named: set[int] = field(default_factory=set)
    direct: bool = False  # a command the user typed: the user named everything themselves
    cards: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str  # what the model reads
    summary: str  # what the person reads


class ToolRefused(Exception):
    """The call is not allowed or cannot be done; the message goes to the model and person."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    action: Action
    run: Callable[[ToolContext, dict[str, Any]], ToolOutcome]

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_ID = {"type": "integer", "minimum": 1}


def _normalised(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _user_messages(context: ToolContext) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation=context.conversation,
            role=MessageRole.USER,
            created_at__lte=context.question.created_at,
        ).order_by("-created_at", "-id")
    )


def _said_by_user(context: ToolContext, value: Any) -> Message | None:
    """The latest of the user's own messages that contains ``value`` (ignoring punctuation)."""
    wanted = _normalised(str(value))
    if not wanted:
        return None
    for message in _user_messages(context):
        if wanted in _normalised(message.content):
            return message
    return None


# search_knowledge ----------------------------------------------------------------------


def _search_knowledge(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
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


# lookup_customer -----------------------------------------------------------------------


def _lookup_customer(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    query = arguments["query"]
    found = customer_search(context.user, query, limit=LOOKUP_RESULTS)
    if not found:
        return ToolOutcome(True, "No customer found.", f"looked up “{query}”: no customer")
    named_by_user = context.direct or _said_by_user(context, query) is not None
    added = []
    for view in found:
        added.append(context.sources.add_customer(context.user, view))
        if named_by_user:
            context.customers_named.add(view.id)
    return ToolOutcome(
        True, context.sources.block(list(added)), f"looked up “{query}”: {len(found)} found"
    )


# prefill_form --------------------------------------------------------------------------


def _extracted_values(
    context: ToolContext, definition: Any, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """Values for unbound fields that the user's own messages contain, with their origin."""
    specs = {spec.key: spec for spec in definition.fields.all()}
    data: dict[str, Any] = {}
    origins: dict[str, dict[str, Any]] = {}
    dropped: list[str] = []
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            dropped.append(f"{key}: not a field of this form")
            continue
        if spec.binding:
            dropped.append(f"{key}: filled from the customer record, not from the conversation")
            continue
        if spec.type == "file":
            dropped.append(f"{key}: files are attached by the person")
            continue
        if spec.type in INTERPRETED_TYPES:
            # A choice is the model's reading of what the user said, not a quote: it is
            # attributed to the question and marked as interpreted for the person to check.
            data[key] = value
            origins[key] = {
                "source": "conversation",
                "message_id": context.question.pk,
                "interpreted": True,
            }
            continue
        message = _said_by_user(context, value)
        if message is None:
            dropped.append(f"{key}: the user did not say this value")
            continue
        data[key] = value
        origins[key] = {"source": "conversation", "message_id": message.pk}
    return data, origins, dropped


def _create_draft(
    context: ToolContext,
    definition: Any,
    customer: Any,
    arguments: dict[str, Any],
    data: dict[str, Any],
    origins: dict[str, dict[str, Any]],
    dropped: list[str],
) -> FormSubmission:
    record = prefill(
        context.user,
        definition,
        customer,
        account=arguments.get("account_id"),
        transaction=arguments.get("transaction_id"),
    )
    from_record = {k: v["value"] for k, v in record.items() if v["value"] not in (None, "")}
    for _ in range(2):
        try:
            return submission_create_draft(
                actor=context.user,
                definition=definition,
                customer=customer,
                account=arguments.get("account_id"),
                transaction=arguments.get("transaction_id"),
                data={**from_record, **data},
                origins=origins,
            )
        except ValidationError as error:
            bad = set(getattr(error, "error_dict", {})) & set(data)
            if not bad:
                raise
            for key in sorted(bad):
                dropped.append(f"{key}: not a valid value for this field")
                data.pop(key)
                origins.pop(key, None)
    raise ToolRefused("The draft could not be created.")


def _prefill_form(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    user = context.user
    slug = arguments["form_slug"]
    try:
        definition = definition_get(user, slug)
    except FormDefinition.DoesNotExist:
        raise ToolRefused(f"There is no form '{slug}' that this user may fill.") from None
    customer_id = arguments["customer_id"]
    customer = customers_visible_to(user).filter(pk=customer_id).first()
    if customer is None:
        raise ToolRefused(f"There is no customer with id {customer_id} that this user may see.")
    if not context.direct and customer.pk not in context.customers_named:
        raise ToolRefused(
            f"Customer id {customer_id} was not named by the user in this conversation; "
            "ask the user which customer the form is for."
        )
    data, origins, dropped = _extracted_values(context, definition, arguments.get("values") or {})
    try:
        submission = _create_draft(context, definition, customer, arguments, data, origins, dropped)
    except ValidationError as error:
        raise ToolRefused("; ".join(error.messages)) from None
    except PermissionDenied as error:
        raise ToolRefused(str(error) or "This user may not fill this form.") from None
    url = reverse("forms_app:submission_detail", kwargs={"pk": submission.pk})
    provenance = submission.provenance or {}
    masked = sorted(k for k, p in provenance.items() if p.get("masked"))
    from_record = sorted(
        k for k, p in provenance.items() if p.get("source") == "customer_record" and k not in masked
    )
    from_conversation = sorted(
        k for k, p in provenance.items() if p.get("source") == "conversation"
    )
    context.cards.append(
        {
            "type": "prefill",
            "submission_id": submission.pk,
            "form": definition.title,
            "form_slug": definition.slug,
            "customer": f"{customer.customer_number} {customer.full_name}",
            "customer_id": customer.pk,
            "url": url,
            "from_record": from_record,
            "from_conversation": from_conversation,
            "masked": masked,
            "dropped": dropped,
        }
    )
    content = json.dumps(
        {
            "draft_submission_id": submission.pk,
            "form": definition.title,
            "customer": customer.customer_number,
            "filled_from_record": from_record,
            "filled_from_conversation": from_conversation,
            "left_for_the_person (masked)": masked,
            "values_not_used": dropped,
            "note": "The draft is NOT submitted. Tell the user to review and submit it.",
        }
    )
    summary = f"pre-filled a draft of {definition.title} for {customer.customer_number}"
    return ToolOutcome(True, content, summary)


# escalate_to_human ---------------------------------------------------------------------


def _escalate(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    # A draft made earlier in this same answer is not stored yet: pass it; otherwise the
    # service takes the newest draft of the conversation.
    current = next(
        (c["submission_id"] for c in reversed(context.cards) if c.get("type") == "prefill"),
        None,
    )
    submission = submissions_owned_by(context.user).filter(pk=current).first() if current else None
    try:
        handoff = handoff_create(
            actor=context.user,
            conversation=context.conversation,
            reason=arguments["reason"],
            submission=submission,
        )
    except (ValidationError, PermissionDenied) as error:
        raise ToolRefused("; ".join(getattr(error, "messages", [str(error)]))) from None
    context.cards.append(
        {
            "type": "handoff",
            "handoff_id": handoff.pk,
            "status": handoff.status,
            "reason": handoff.reason,
            "region": getattr(handoff.region, "name", ""),
        }
    )
    content = json.dumps(
        {"handoff_id": handoff.pk, "status": handoff.status, "note": "A supervisor will take it."}
    )
    return ToolOutcome(True, content, f"handed off to a supervisor (hand-off #{handoff.pk})")


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="search_knowledge",
            description=(
                "Search the bank's documents the user may read for passages that answer a "
                "question. Use it when the sources you were given do not answer. Cite the "
                "passages it returns by their [n] numbers."
            ),
            parameters=_schema(
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
            run=_search_knowledge,
        ),
        Tool(
            name="lookup_customer",
            description=(
                "Find a customer by customer number, email, phone, last four digits of an "
                "account or card, or name. Use it only for a customer the user asked about. "
                "Returns customer records (masked as the user sees them) as numbered sources."
            ),
            parameters=_schema(
                {"query": {"type": "string", "minLength": 2, "maxLength": 200}}, ["query"]
            ),
            action=Action.VIEW_CUSTOMERS,
            run=_lookup_customer,
        ),
        Tool(
            name="prefill_form",
            description=(
                "Create a DRAFT of a form for a customer the user named, pre-filled from the "
                "customer's record. It never submits: the user reviews and submits the draft. "
                "Give account_id and transaction_id from the customer record when the form "
                "is about one (for a card dispute, the disputed transaction). In values, put "
                "only values of unbound fields that the user stated in this conversation, "
                "keyed by field key, written exactly as the user wrote them."
            ),
            parameters=_schema(
                {
                    "form_slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,99}$"},
                    "customer_id": _ID,
                    "account_id": _ID,
                    "transaction_id": _ID,
                    "values": {
                        "type": "object",
                        "maxProperties": 30,
                        "additionalProperties": {
                            "anyOf": [
                                {"type": "string", "maxLength": 2000},
                                {"type": ["number", "boolean"]},
                                {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                            ]
                        },
                    },
                },
                ["form_slug", "customer_id"],
            ),
            action=Action.FILL_FORMS,
            run=_prefill_form,
        ),
        Tool(
            name="escalate_to_human",
            description=(
                "Hand this conversation to a supervisor, with the customer and any draft. Use "
                "it when the user asks for a person, or when the request needs a human "
                "decision (a complaint, a suspected fraud, something the sources do not cover)."
            ),
            parameters=_schema(
                {"reason": {"type": "string", "minLength": 3, "maxLength": 2000}}, ["reason"]
            ),
            action=Action.ASK_ASSISTANT,
            run=_escalate,
        ),
    )
}


def tool_specs(user: Any) -> list[dict[str, Any]]:
    """The tools ``user``'s roles allow, in the OpenAI ``tools`` format."""
    return [tool.spec() for tool in TOOLS.values() if can(user, tool.action)]


def _validation_problem(tool: Tool, arguments: dict[str, Any]) -> str | None:
    errors = sorted(
        Draft202012Validator(tool.parameters).iter_errors(arguments), key=lambda e: list(e.path)
    )
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.path) or "arguments"
    return f"Invalid arguments ({where}): {first.message}"


def tool_run(
    context: ToolContext,
    name: str,
    arguments: dict[str, Any],
    *,
    call_id: str = "",
    parse_error: str | None = None,
) -> ToolOutcome:
    """Run one tool call as the context's user; refusals are recorded, audited and returned."""
    tool = TOOLS.get(name)
    problem = parse_error
    if problem is None and tool is None:
        problem = f"There is no tool named '{name}'."
    elif problem is None and tool is not None and not can(context.user, tool.action):
        problem = f"This user may not use {name}."
    elif problem is None and tool is not None:
        problem = _validation_problem(tool, arguments)
    outcome: ToolOutcome
    if problem is None and tool is not None:
        try:
            outcome = tool.run(context, arguments)
        except ToolRefused as refusal:
            problem = str(refusal)
    if problem is not None:
        outcome = ToolOutcome(False, json.dumps({"error": problem}), f"{name} refused: {problem}")
        audit_event_record(
            action="assistant.tool_refused",
            actor=context.user,
            target=context.conversation,
            details={"tool": name, "arguments": arguments, "reason": problem},
        )
        context.cards.append({"type": "notice", "level": "warning", "text": outcome.summary})
    context.calls.append(
        {
            "id": call_id,
            "name": name,
            "arguments": arguments,
            "ok": outcome.ok,
            "summary": outcome.summary,
        }
    )
    return outcome
