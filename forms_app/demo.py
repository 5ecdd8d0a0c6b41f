"""Four published demo forms (card dispute, address change, SAR, account closure); idempotent."""

from __future__ import annotations

from typing import Any

from forms_app.models import DefinitionStatus, FormDefinition
from forms_app.services import definition_create, definition_publish

FRONT_LINE = ["agent", "compliance", "supervisor"]

CUSTOMER_FIELDS: list[dict[str, Any]] = [
    {
        "key": "customer_name",
        "label": "Customer name",
        "type": "text",
        "required": True,
        "binding": "customer.full_name",
        "validation": {"max_length": 200},
    },
    {
        "key": "customer_number",
        "label": "Customer number",
        "type": "text",
        "required": True,
        "binding": "customer.customer_number",
        "validation": {"max_length": 32},
    },
]

DEMO_FORMS: list[dict[str, Any]] = [
    {
        "slug": "card-dispute",
        "title": "Card transaction dispute",
        "description": "A cardholder disputes a card transaction (chargeback request).",
        "fill_roles": FRONT_LINE,
        "review_roles": ["supervisor"],
        "fields": [
            *CUSTOMER_FIELDS,
            {
                "key": "card_last4",
                "label": "Card (last 4 digits)",
                "type": "text",
                "required": True,
                "binding": "account.card_last4",
                "validation": {"regex": r"^[0-9]{4}$", "max_length": 4},
            },
            {
                "key": "transaction",
                "label": "Disputed transaction",
                "type": "transaction_picker",
                "required": True,
                "binding": "transaction.id",
                "help_text": "The customer's recent card transactions.",
            },
            {
                "key": "amount",
                "label": "Amount",
                "type": "money",
                "required": True,
                "binding": "transaction.amount",
                # As posted: card payments are debits, so a disputed amount is negative.
                "help_text": "As posted on the account (a card payment is negative).",
            },
            {
                "key": "posted_date",
                "label": "Posted date",
                "type": "date",
                "required": True,
                "binding": "transaction.posted_date",
            },
            {
                "key": "merchant",
                "label": "Merchant",
                "type": "text",
                "binding": "transaction.merchant",
                "validation": {"max_length": 200},
            },
            {
                "key": "reason",
                "label": "Reason",
                "type": "choice",
                "required": True,
                "choices": [
                    ["not_recognised", "Transaction not recognised"],
                    ["duplicate", "Charged more than once"],
                    ["not_received", "Goods or services not received"],
                    ["wrong_amount", "Wrong amount"],
                    ["other", "Other"],
                ],
            },
            {
                "key": "other_reason",
                "label": "Describe the reason",
                "type": "textarea",
                "required": True,
                "show_when": {"field": "reason", "equals": "other"},
                "validation": {"max_length": 2000},
            },
            {
                "key": "card_in_possession",
                "label": "The customer still has the card",
                "type": "checkbox",
            },
        ],
    },
    {
        "slug": "address-change",
        "title": "Address change",
        "description": "Record a customer's new postal address.",
        "fill_roles": FRONT_LINE,
        "review_roles": ["supervisor"],
        "customer_reauthentication": True,
        "fields": [
            *CUSTOMER_FIELDS,
            {
                "key": "current_address",
                "label": "Current address",
                "type": "textarea",
                "binding": "customer.address",
            },
            {
                "key": "street",
                "label": "New street and number",
                "type": "text",
                "required": True,
                "validation": {"max_length": 200},
            },
            {
                "key": "postal_code",
                "label": "Postal code",
                "type": "text",
                "required": True,
                "validation": {"regex": r"^[A-Za-z0-9 -]{3,10}$", "max_length": 10},
            },
            {
                "key": "city",
                "label": "City",
                "type": "text",
                "required": True,
                "validation": {"max_length": 100},
            },
            {
                "key": "country",
                "label": "Country",
                "type": "text",
                "required": True,
                "validation": {"max_length": 100},
            },
            {"key": "effective_date", "label": "Effective date", "type": "date", "required": True},
            {
                "key": "proof_of_address",
                "label": "Proof of address",
                "type": "file",
                "help_text": "A utility bill or bank statement (PDF).",
            },
        ],
    },
    {
        "slug": "suspicious-activity-referral",
        "title": "Suspicious activity referral",
        "description": "Refer suspicious activity to compliance. Do not tell the customer.",
        "fill_roles": FRONT_LINE,
        "review_roles": ["compliance"],
        "fields": [
            *CUSTOMER_FIELDS,
            {
                "key": "account_number",
                "label": "Account",
                "type": "text",
                "binding": "account.account_number",
                "validation": {"max_length": 34},
            },
            {
                "key": "activity_types",
                "label": "Kind of activity",
                "type": "multi_choice",
                "required": True,
                "choices": [
                    ["structuring", "Structured cash deposits"],
                    ["rapid_movement", "Rapid movement of funds"],
                    ["identity", "Identity concerns"],
                    ["third_party", "Unexplained third-party payments"],
                    ["other", "Other"],
                ],
            },
            {"key": "first_noticed", "label": "First noticed on", "type": "date"},
            {
                "key": "approximate_amount",
                "label": "Approximate amount involved",
                "type": "money",
                "validation": {"min": 0},
            },
            {
                "key": "narrative",
                "label": "What happened",
                "type": "textarea",
                "required": True,
                "sensitivity": "sensitive",
                "validation": {"max_length": 10000},
            },
        ],
    },
    {
        "slug": "account-closure",
        "title": "Account closure",
        "description": "Close a customer's account at their request.",
        "fill_roles": FRONT_LINE,
        "review_roles": ["supervisor"],
        "fields": [
            *CUSTOMER_FIELDS,
            {
                "key": "account_number",
                "label": "Account to close",
                "type": "text",
                "required": True,
                "binding": "account.account_number",
                "validation": {"max_length": 34},
            },
            {
                "key": "reason",
                "label": "Reason for closing",
                "type": "choice",
                "required": True,
                "choices": [
                    ["moving", "Moving away"],
                    ["fees", "Fees"],
                    ["service", "Service"],
                    ["deceased", "Account holder deceased"],
                    ["other", "Other"],
                ],
            },
            {
                "key": "balance_handling",
                "label": "Closing balance",
                "type": "choice",
                "required": True,
                "choices": [
                    ["transfer", "Transfer to another account"],
                    ["cheque", "Send a cheque"],
                    ["cash", "Pay out in branch"],
                ],
            },
            {
                "key": "transfer_iban",
                "label": "Transfer to (IBAN)",
                "type": "text",
                "required": True,
                "show_when": {"field": "balance_handling", "equals": "transfer"},
                "validation": {"regex": r"^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{10,30}$", "max_length": 42},
            },
        ],
    },
]


def seed_forms() -> int:
    """Create and publish each demo form that has no published version yet; returns how many."""
    created = 0
    for spec in DEMO_FORMS:
        published = FormDefinition.objects.filter(
            slug=spec["slug"], status=DefinitionStatus.PUBLISHED
        )
        if published.exists():
            continue
        definition = definition_create(actor=None, **spec)
        definition_publish(actor=None, definition=definition)
        created += 1
    return created
