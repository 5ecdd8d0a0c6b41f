from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest


def page_context(request: HttpRequest, rows: Any, per_page: int) -> dict[str, Any]:
    """page_obj, the other GET parameters (for page links) and the total, for list pages."""
    page = Paginator(rows, per_page).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return {"page_obj": page, "query_string": params.urlencode(), "total": page.paginator.count}
