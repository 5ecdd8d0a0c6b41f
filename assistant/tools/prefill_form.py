"""``prefill_form``: a DRAFT submission of a form for a customer the user named, filled
from the customer's record and from values the user said; never submitted.

A model-initiated pre-fill may only be for a customer the user named (see
``ToolContext.customers_named``); values of unbound fields are kept only when the user's
own messages contain them (choices are the model's reading, marked as interpreted).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.urls import reverse

from assistant.tools.base import (
    ID_SCHEMA,
    Tool,
    ToolContext,
    ToolOutcome,
    ToolRefused,
    object_schema,
    said_by_user,
)
from forms_app.selectors import definition_get
from forms_app.services.prefill import prefill
from forms_app.services.submissions import submission_create_draft
from knowledge.customers.selectors import customer_records_get
from portal.permissions import Action

if TYPE_CHECKING:
    from assistant.answering.types import PrefillCard
    from forms_app.models import FormDefinition, FormSubmission
    from knowledge.customers.models import Customer

# Field types whose value the model chooses from a list rather than quotes from the user.
INTERPRETED_TYPES = frozenset({"choice", "multi_choice", "checkbox"})


def _extracted_values(
    context: ToolContext, definition: FormDefinition, values: dict[str, Any]
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
        message = said_by_user(context, value)
        if message is None:
            dropped.append(f"{key}: the user did not say this value")
            continue
        data[key] = value
        origins[key] = {"source": "conversation", "message_id": message.pk}
    return data, origins, dropped


def _create_draft(
    context: ToolContext,
    definition: FormDefinition,
    customer: Customer,
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


def prefill_form(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
    user = context.user
    slug = arguments["form_slug"]
    try:
        definition = definition_get(user, slug)
    except ObjectDoesNotExist:
        raise ToolRefused(f"There is no form '{slug}' that this user may fill.") from None
    customer_id = arguments["customer_id"]
    try:  # the one "these rows belong to this customer" check, as the user
        customer, _, _ = customer_records_get(
            user, customer_id, arguments.get("account_id"), arguments.get("transaction_id")
        )
    except ObjectDoesNotExist:
        raise ToolRefused(
            f"There is no customer with id {customer_id} that this user may see."
        ) from None
    except ValidationError as error:
        raise ToolRefused("; ".join(error.messages)) from None
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
    card: PrefillCard = {
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
    context.cards.append(card)
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


TOOL = Tool(
    name="prefill_form",
    description=(
        "Create a DRAFT of a form for a customer the user named, pre-filled from the "
        "customer's record. It never submits: the user reviews and submits the draft. "
        "Give account_id and transaction_id from the customer record when the form "
        "is about one (for a card dispute, the disputed transaction). In values, put "
        "only values of unbound fields that the user stated in this conversation, "
        "keyed by field key, written exactly as the user wrote them."
    ),
    parameters=object_schema(
        {
            "form_slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,99}$"},
            "customer_id": ID_SCHEMA,
            "account_id": ID_SCHEMA,
            "transaction_id": ID_SCHEMA,
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
    run=prefill_form,
)
