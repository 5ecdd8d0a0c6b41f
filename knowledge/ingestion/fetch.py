"""Fetch a document from its source URL: only allowed hosts, bounded in time and size.

Off by default (``KNOWLEDGE_URL_ALLOWED_HOSTS`` empty): a URL fetcher inside a bank's
network is a server-side request forgery risk, so an administrator names the hosts.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from knowledge.ingestion.parsers import ParseError
from portal.formatting import format_size

MAX_REDIRECTS = 5


class FetchError(Exception):
    """A transient failure (network, server error): worth a retry."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    filename: str


def host_allowed(url: str) -> bool:
    """http(s) to a host in KNOWLEDGE_URL_ALLOWED_HOSTS ("docs.bank.example", ".bank.example")."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    for allowed in settings.KNOWLEDGE_URL_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


def not_allowed_message(url: str) -> str:
    host = urlsplit(url).hostname or url
    return (
        f"Fetching from {host} is not allowed. Upload the file instead, or ask an "
        "administrator to add the host to KNOWLEDGE_URL_ALLOWED_HOSTS."
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # redirects are followed by hand, each target checked


_opener = urllib.request.build_opener(_NoRedirects)


def fetch_url(url: str) -> Fetched:
    """The body at ``url``; ParseError when it can never work, FetchError when it may later."""
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    for _ in range(MAX_REDIRECTS + 1):
        if not host_allowed(url):
            raise ParseError("not_allowed", not_allowed_message(url))
        # host_allowed() admits only http(s) to named hosts.
        request = urllib.request.Request(url, headers={"User-Agent": "enterprise-portal/1.0"})  # noqa: S310
        try:
            with _opener.open(request, timeout=settings.KNOWLEDGE_URL_TIMEOUT_SECONDS) as response:
                data = response.read(limit + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            if error.code in (301, 302, 303, 307, 308) and error.headers.get("Location"):
                url = urljoin(url, error.headers["Location"])
                continue
            if error.code >= 500 or error.code == 429:
                raise FetchError(f"{url} answered HTTP {error.code}") from error
            raise ParseError(
                "unavailable", f"The source URL answered HTTP {error.code}."
            ) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise FetchError(f"Could not reach {url}: {error}") from error
        if len(data) > limit:
            size = format_size(limit)
            raise ParseError("too_large", f"The document at the URL is over {size}, the limit.")
        name = PurePosixPath(urlsplit(url).path).name or "index.html"
        return Fetched(data=data, content_type=content_type, filename=name)
    raise ParseError("unavailable", "The source URL redirects too many times.")
