"""The customer-record paths a form field may be bound to (for pre-fill).

The customer records own the list (``knowledge.customers.selectors.BINDABLE_PATHS``).
"""

from __future__ import annotations

from knowledge.customers.selectors import BINDABLE_PATHS

SUPPORTED_BINDINGS: list[str] = list(BINDABLE_PATHS)
