"""How masked customer values look (which role sees what: ``portal.permissions``)."""

from __future__ import annotations

from portal.permissions import Visibility, field_visibility
from portal.types import AnyUser

MASK = "•••• "


def digits_of(value: str) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def mask_tax_id(value: str) -> str:
    """``***-**-1234``: only the last four digits."""
    return f"***-**-{digits_of(value)[-4:]}" if value else ""


def mask_account_number(value: str) -> str:
    """``•••• 1234``: only the last four digits."""
    return f"{MASK}{digits_of(value)[-4:]}" if value else ""


def mask_date_of_birth(value: str) -> str:
    """``1984-**-**``: the year only (enough to tell namesakes apart, not to verify identity)."""
    return f"{value[:4]}-**-**" if value else ""


MASKERS = {
    "tax_id": mask_tax_id,
    "account_number": mask_account_number,
    "date_of_birth": mask_date_of_birth,
}


def visible_value(user: AnyUser | None, field: str, value: str) -> tuple[str | None, Visibility]:
    """``value`` as ``user`` may see it (None when hidden) and the visibility applied."""
    visibility = field_visibility(user, field)
    if visibility == "hidden":
        return None, visibility
    if visibility == "masked" and field in MASKERS:
        return MASKERS[field](value), visibility
    return value, visibility
