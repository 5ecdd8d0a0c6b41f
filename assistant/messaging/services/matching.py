"""Which of the customer's own transactions a message describes ("a $54.20 charge from ACME
on 12 Nov"), and which smart form covers the request. Pure functions over what the customer
may see of their own records (``own_transactions``): a message naming another customer's
charge can only ever match the writer's own transactions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from knowledge.customers.selectors import TransactionView

# "54.20", "$54.20", "54,20 €", "1,054.20": amounts with cents, or after a currency sign.
_AMOUNT = re.compile(
    r"(?:(?<=[$€£])\s?|(?<![\w.,]))(\d{1,3}(?:,\d{3})+|\d+)([.,]\d{2})?(?![\w]|[.,]\d)"
)
_CURRENCY_AFTER = re.compile(
    r"\s?(?:[$€£]|(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)", re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]{3,}")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_MONTH = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")[a-z]*\b"
    r"|\b(" + "|".join(_MONTHS) + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# Words of a merchant name too common to identify it.
_COMMON = frozenset({"the", "and", "online", "shop", "store", "market", "inc", "ltd", "com"})

# What the message asks for -> the form that covers it (by slug), by category or by words.
DISPUTE_WORDS = re.compile(
    r"\b(dispute|recogni[sz]e|unauthori[sz]ed|never (?:made|bought|ordered)|charged? twice|"
    r"duplicate|refund|chargeback)",
    re.IGNORECASE,
)
# What a person must answer whatever category the customer chose: fraud, a lost or stolen
# card, a complaint, a dispute (never answered automatically).
NEEDS_A_PERSON = re.compile(
    r"\b(fraud|scam|phish|hack|stolen|steal|lost (?:my|the) (?:card|phone|wallet)|"
    r"complain|ombudsman|lawyer|solicitor|court|bereave|passed away|died|vulnerable|"
    r"suicid|threat)",
    re.IGNORECASE,
)
FORM_OF_CATEGORY = {"card_dispute": "card-dispute", "address_change": "address-change"}


@dataclass(frozen=True)
class Match:
    transaction: TransactionView | None
    reasons: list[str]  # what matched: "amount", "merchant", "date"
    candidates: int  # transactions with the best score (1: a unique match)

    def explain(self) -> str:
        if self.transaction is None:
            return "No transaction of the customer matches the message."
        return "Matched by " + ", ".join(self.reasons) + "."


def amounts_in(text: str) -> set[Decimal]:
    """Money amounts written in ``text``: with cents, or next to a currency."""
    found: set[Decimal] = set()
    for match in _AMOUNT.finditer(text):
        whole, cents = match.group(1), match.group(2)
        before = text[max(0, match.start() - 2) : match.start()]
        currency = any(sign in before for sign in "$€£") or _CURRENCY_AFTER.match(text, match.end())
        if cents is None and not currency:
            continue  # a bare number (a date, a count) is not an amount
        try:
            found.add(Decimal(whole.replace(",", "") + (cents or "").replace(",", ".")))
        except InvalidOperation:
            continue
    return found


def dates_in(text: str, today: date) -> set[tuple[int, int]]:
    """(month, day) pairs written in ``text`` ("12 Nov", "November 12", "2026-11-12")."""
    found: set[tuple[int, int]] = set()
    for match in _DAY_MONTH.finditer(text):
        day = match.group(1) or match.group(4)
        month = (match.group(2) or match.group(3))[:3].lower()
        found.add((_MONTHS.index(month) + 1, int(day)))
    for match in _ISO.finditer(text):
        found.add((int(match.group(2)), int(match.group(3))))
    return found


def _merchant_words(merchant: str) -> set[str]:
    return {w for w in _WORD.findall(merchant.lower()) if w not in _COMMON}


def match_transaction(
    text: str, transactions: list[TransactionView], today: date | None = None
) -> Match:
    """The one transaction ``text`` describes best (amount, merchant, date), or none when no
    transaction matches on at least the amount or the merchant, or several tie."""
    today = today or date.today()
    amounts = amounts_in(text)
    words = set(_WORD.findall(text.lower()))
    dates = dates_in(text, today)
    scored: list[tuple[int, list[str], TransactionView]] = []
    for row in transactions:
        reasons = []
        if abs(row.amount) in amounts:
            reasons.append("amount")
        merchant = _merchant_words(row.merchant)
        if merchant and merchant <= words:
            reasons.append("merchant")
        if (row.posted_date.month, row.posted_date.day) in dates:
            reasons.append("date")
        score = 2 * ("amount" in reasons) + 2 * ("merchant" in reasons) + ("date" in reasons)
        if score >= 2:
            scored.append((score, reasons, row))
    if not scored:
        return Match(None, [], 0)
    best = max(score for score, _, _ in scored)
    top = [(reasons, row) for score, reasons, row in scored if score == best]
    if len(top) > 1:
        return Match(None, [], len(top))
    return Match(top[0][1], top[0][0], 1)


def form_for(category: str, text: str) -> str | None:
    """The slug of the form that covers what the message asks for, if any."""
    if category == "card_dispute" or DISPUTE_WORDS.search(text):
        return "card-dispute"
    return FORM_OF_CATEGORY.get(category)


def needs_a_person(text: str) -> bool:
    """Whether a customer's message must be answered by a person (never automatically)."""
    return bool(NEEDS_A_PERSON.search(text) or DISPUTE_WORDS.search(text))


def as_proposal(slug: str, match: Match) -> dict[str, Any]:
    """What the draft stores of its proposed form (ids only; values are read at sending)."""
    row = match.transaction
    return {
        "form": slug,
        "transaction_id": row.id if row else None,
        "account_id": row.account_id if row else None,
        "matched_by": match.reasons,
        "explanation": match.explain(),
        "ties": match.candidates if row is None else 0,
    }
