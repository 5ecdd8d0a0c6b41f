"""The numbered sources of one answer: document chunks and customer records, as the asking
user may see them, and the customers a question names.

Every source is fetched through the knowledge selectors as the asking user, so a source can
never hold a collection, customer or field the user may not read. Its text reaches the model,
the extractive answerer and the commands with ``[n]`` neutralised (``citations``): a
citation marker written inside a document is never taken for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse

from assistant.answering.citations import neutralise_markers
from assistant.answering.types import ChunkCitation, CustomerCitation
from knowledge.customers.selectors import (
    CustomerView,
    customer_accounts,
    customer_search,
    customer_transactions,
    customer_view,
    customers_visible_to,
)
from knowledge.selectors import SearchHit
from portal.permissions import Action, can
from portal.types import AnyUser

# A customer mentioned by name must match this well (pg_trgm similarity) to be looked up.
NAME_MATCH = 0.55
MAX_CUSTOMERS_PER_QUESTION = 3
RECENT_TRANSACTIONS = 5

_CUSTOMER_NUMBER = re.compile(r"\b[A-Z]{2,5}-\d{4,10}\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# Two to four capitalised words in a row: a candidate person's name ("Maria Garcia").
_NAME = re.compile(r"\b[A-Z][a-z'\u2019\-]+(?:\s+[A-Z][a-z'\u2019\-]+){1,3}\b")
# The fence's own tags inside a source ("</sources>", "< / source n=...>", any case): a
# document could otherwise close the fence and write what reads as instructions after it.
_FENCE_TAG = re.compile(r"<(\s*/?\s*sources?\b)", re.IGNORECASE)


def neutralise_fence(text: str) -> str:
    """``text`` with the fence's tags opened by U+2039 instead of ``<``: never a tag."""
    return _FENCE_TAG.sub("\u2039\\1", text)


@dataclass
class ChunkSource:
    number: int
    hit: SearchHit

    kind = "chunk"

    @property
    def title(self) -> str:
        return neutralise_markers(self.hit.document_title)

    @property
    def text(self) -> str:
        return neutralise_markers(self.hit.text)

    def label(self) -> str:
        where = f", page {self.hit.page}" if self.hit.page else ""
        heading = neutralise_markers(" > ".join(self.hit.heading_path or []))
        label = f"[{self.number}] {self.title}{where}"
        return f"{label} — {heading}" if heading else label

    def citation(self) -> ChunkCitation:
        return {
            "n": self.number,
            "type": "chunk",
            "chunk_id": self.hit.chunk_id,
            "document_id": self.hit.document_id,
            "version": self.hit.version,
            "page": self.hit.page,
            "title": self.hit.document_title,
        }

    def url(self) -> str:
        url = reverse("knowledge:document_detail", kwargs={"pk": self.hit.document_id})
        return f"{url}#chunk-{self.hit.ordinal}"


@dataclass
class CustomerSource:
    number: int
    customer: CustomerView
    text: str

    kind = "customer"

    @property
    def title(self) -> str:
        return f"Customer {self.customer.customer_number}"

    def label(self) -> str:
        return f"[{self.number}] Customer record {self.customer.customer_number}"

    def citation(self) -> CustomerCitation:
        return {
            "n": self.number,
            "type": "customer",
            "customer_id": self.customer.id,
            "title": f"{self.customer.customer_number} {self.customer.full_name}",
        }

    def url(self) -> str:
        return reverse("customers:detail", kwargs={"pk": self.customer.id})


Source = ChunkSource | CustomerSource


@dataclass
class SourceSet:
    """Sources numbered from 1 in the order they were given to the model."""

    items: list[Source] = field(default_factory=list)
    limit: int = 16

    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add_hits(self, hits: list[SearchHit]) -> list[ChunkSource]:
        """Number the new hits; the sources of all ``hits`` (known ones keep their number)."""
        known = {s.hit.chunk_id: s for s in self.items if isinstance(s, ChunkSource)}
        found = []
        for hit in hits:
            if hit.chunk_id in known:
                found.append(known[hit.chunk_id])
                continue
            if self.full():
                break
            source = ChunkSource(number=len(self.items) + 1, hit=hit)
            self.items.append(source)
            known[hit.chunk_id] = source
            found.append(source)
        return found

    def add_customer(self, user: AnyUser, customer: CustomerView) -> CustomerSource:
        for source in self.items:
            if isinstance(source, CustomerSource) and source.customer.id == customer.id:
                return source
        source = CustomerSource(
            number=len(self.items) + 1,
            customer=customer,
            text=neutralise_markers(customer_record_text(user, customer)),
        )
        self.items.append(source)
        return source

    def by_number(self) -> dict[int, Source]:
        return {source.number: source for source in self.items}

    def chunk_ids(self) -> list[int]:
        return [s.hit.chunk_id for s in self.items if isinstance(s, ChunkSource)]

    def customer_ids(self) -> list[int]:
        return [s.customer.id for s in self.items if isinstance(s, CustomerSource)]

    def block(self, sources: list[Source] | None = None) -> str:
        """The sources as the model reads them: fenced and labelled as data."""
        chosen = self.items if sources is None else sources
        if not chosen:
            return "<sources>\n(no sources were found)\n</sources>"
        return "<sources>\n" + "\n".join(source_block(s) for s in chosen) + "\n</sources>"


def source_block(source: Source) -> str:
    """One source exactly as the model reads it (what the answer's lineage hashes)."""
    return (
        f'<source n="{source.number}" kind="{source.kind}">\n'
        f"{neutralise_fence(source.label())}\n{neutralise_fence(source.text)}\n</source>"
    )


def customer_record_text(user: AnyUser, customer: CustomerView) -> str:
    """A customer record as text for the model, masked exactly as ``user`` sees it."""
    lines = [
        f"Customer id {customer.id}, number {customer.customer_number}: {customer.full_name}",
        f"Region: {customer.region_name}. Segment: {customer.segment}. "
        f"KYC: {customer.kyc_status}. Risk rating: {customer.risk_rating}.",
        f"Email: {customer.email}. Phone: {customer.phone}.",
        f"Address: {customer.address}.",
    ]
    if customer.date_of_birth is not None:
        lines.append(f"Date of birth: {customer.date_of_birth}.")
    if customer.tax_id is not None:
        lines.append(f"Tax id: {customer.tax_id}.")
    if customer.masked_fields:
        lines.append("Masked for this user: " + ", ".join(customer.masked_fields) + ".")
    row = customers_visible_to(user).get(pk=customer.id)
    for account in customer_accounts(user, row):
        card = f", card ending {account.card_last4}" if account.card_last4 else ""
        lines.append(
            f"Account id {account.id}: {account.type_display} {account.account_number or ''}"
            f"{card}, {account.status}, balance {account.balance} {account.currency}."
        )
    for txn in customer_transactions(user, row, limit=RECENT_TRANSACTIONS):
        lines.append(
            f"Transaction id {txn.id} (account id {txn.account_id}): {txn.posted_date}, "
            f"{txn.amount} {txn.currency}, {txn.merchant} ({txn.category}), {txn.status}."
        )
    return "\n".join(lines)


def max_customer_candidates() -> int:
    """How many distinct candidates (numbers, emails, names) of one question are searched for,
    at most; each search is audited (``customer.searched``)."""
    return max(settings.ASSISTANT_MAX_CUSTOMER_CANDIDATES, 0)


def _candidates(text: str, limit: int) -> list[tuple[str, bool]]:
    """(query, exact) pairs for customer_search: numbers and emails exact, names fuzzy; the
    first ``limit`` distinct ones (ignoring case and spacing), numbers and emails first."""
    found: list[tuple[str, bool]] = []
    found += [(m.group(0), True) for m in _CUSTOMER_NUMBER.finditer(text)]
    found += [(m.group(0), True) for m in _EMAIL.finditer(text)]
    found += [(" ".join(m.group(0).split()), False) for m in _NAME.finditer(text)]
    distinct: dict[str, tuple[str, bool]] = {}
    for query, exact in found:
        distinct.setdefault(query.casefold(), (query, exact))
    return list(distinct.values())[:limit]


def customers_named_in(user: AnyUser, text: str) -> list[CustomerView]:
    """Customers ``user`` may see that ``text`` names by number, email or (close) full name;
    at most ``ASSISTANT_MAX_CUSTOMER_CANDIDATES`` searches, however many names it holds."""
    if not can(user, Action.VIEW_CUSTOMERS):
        return []
    matches: dict[int, CustomerView] = {}
    for query, exact in _candidates(text, max_customer_candidates()):
        for view in customer_search(user, query, limit=2):
            precise = query.lower() in (view.customer_number.lower(), view.email.lower())
            if (exact and precise) or (not exact and (view.score or 0) >= NAME_MATCH):
                matches.setdefault(view.id, view)
        if len(matches) >= MAX_CUSTOMERS_PER_QUESTION:
            break
    return list(matches.values())[:MAX_CUSTOMERS_PER_QUESTION]


def customer_in_focus(user: AnyUser, customer_id: int | None) -> CustomerView | None:
    """The conversation's customer as ``user`` sees it, or None if they may not (any more)."""
    if customer_id is None:
        return None
    row = customers_visible_to(user).filter(pk=customer_id).first()
    return customer_view(user, row) if row is not None else None
