"""PostgreSQL lost under load: a clear 503 (the API's JSON shape under /api/, a plain page
otherwise, ``Retry-After``) while it is unreachable, success as soon as it is back, and no
half-written rows.

The portal runs as a real web server (``manage.py runserver``, threaded, persistent database
connections with health checks as in production) whose DATABASE_URL points at a TCP proxy in
front of the session's PostgreSQL. The proxy plays the restart: it drops every connection
at the moment a client sends a chosen statement (in the middle of a transaction) and refuses
new ones until it is restored. Stopping the shared server itself would break the other
tests of the session; to the portal, a server restarting looks exactly like this (its
connections close, then connecting is refused), and the server itself aborts the
transaction whose connection dropped.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from portal.models import TOKEN_SCOPES, AuditEvent
from portal.permissions import Role
from portal.services import api_token_create
from tests.resilience.support import Process, TcpProxy, Valkey, WebServer, database_url, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

UNAVAILABLE = "temporarily unavailable"


@dataclass
class Result:
    kind: str  # page, api, create
    started: float
    ended: float
    status: int
    body: bytes
    headers: dict[str, str]
    title: str = ""


class Load:
    """Threads sending a signed-in page, an API read and an API write, over and over."""

    def __init__(self, base: str, cookie: str, token: str, threads: int = 3) -> None:
        self.base = base
        self.cookie = cookie
        self.token = token
        self.results: list[Result] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def send(self, kind: str, title: str = "") -> Result:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if kind == "page":
            url, headers = f"{self.base}/", {"Cookie": f"sessionid={self.cookie}"}
        elif kind == "api":
            url = f"{self.base}/api/v1/me/"
        else:
            url = f"{self.base}/api/v1/conversations/"
            data = json.dumps({"title": title}).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                status, body, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, body, got = error.code, error.read(), dict(error.headers)
        return Result(kind, started, time.monotonic(), status, body, got, title)

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            for kind in ("page", "api", "create"):
                try:
                    self.results.append(self.send(kind, f"load {n}-{i}"))
                except Exception as error:  # a hang, a reset: what must not happen
                    self.errors.append(f"{kind}: {error!r}")
                i += 1
            time.sleep(0.05)


def _is_unavailable(result: Result) -> bool:
    if result.status != 503 or result.headers.get("Retry-After") != "30":
        return False
    if result.kind == "page":
        return result.headers["Content-Type"].startswith("text/html") and (
            UNAVAILABLE in result.body.decode()
        )
    body = json.loads(result.body)
    return UNAVAILABLE in body["message"] and body["extra"] == {"retry_after": 30}


def test_database_lost_under_load_answers_503_then_recovers_without_half_writes(
    broker: Valkey, processes: list[Process], tmp_path: Path, client: Client, make_user: Any
) -> None:
    user = make_user("agent", Role.AGENT)
    client.force_login(user)
    _, key = api_token_create(user=user, name="load", scopes=TOKEN_SCOPES)
    proxy = TcpProxy(int(connection.settings_dict["PORT"]), connection.settings_dict["HOST"])
    proxy.start()
    web = WebServer({"DATABASE_URL": database_url(proxy.port), "REDIS_URL": broker.url}, tmp_path)
    processes.append(web)
    web.wait_ready()
    try:
        load = Load(web.url, client.cookies["sessionid"].value, key)
        for kind in ("page", "api", "create"):
            assert load.send(kind, "warm-up").status in (200, 201)

        with load:
            time.sleep(0.5)
            # The server goes away in the middle of a conversation's transaction: its row
            # is written, its audit event is next.
            proxy.cut_before = b'INSERT INTO "portal_auditevent"'
            cut_at = wait_until(lambda: proxy.cut_at, 20, "the cut")
            time.sleep(2)
            down = [load.send(kind, f"down {kind}") for kind in ("page", "api", "create")]
            restored_at = time.monotonic()
            proxy.restore()
            wait_until(
                lambda: [r for r in load.results if r.started > restored_at and r.status < 300],
                20,
                "a success after the restore",
            )
            recovered_in = time.monotonic() - restored_at
            time.sleep(1)
    finally:
        proxy.stop()

    assert not load.errors, load.errors[:5]
    results = load.results
    assert {r.status for r in results} <= {200, 201, 503}, web.output()[-3000:]
    # While it is down: a clear 503 for each kind, at once (no hang until a timeout).
    while_down = [r for r in results if r.started > cut_at + 0.5 and r.ended < restored_at]
    assert {r.kind for r in while_down} == {"page", "api", "create"}
    assert all(_is_unavailable(r) for r in [*while_down, *down]), [
        (r.kind, r.status, r.body[:200]) for r in while_down if not _is_unavailable(r)
    ]
    assert max(r.ended - r.started for r in while_down) < 2
    assert all("no-store" in r.headers["Cache-Control"] for r in while_down if r.kind == "page")
    # One error line per failed request (with its traceback), not one per layer that tried.
    log = web.output()
    assert log.count("Service Unavailable: ") == log.count('HTTP/1.1" 503 ')
    # Back: every request succeeds (persistent connections replaced, nothing stuck).
    settled = restored_at + recovered_in + 0.2
    after = [r for r in results if r.started > settled]
    assert after and all(r.status in (200, 201) for r in after)
    assert recovered_in < 5

    # No half-written rows: every conversation has its audit event and every event its
    # conversation; each 201 was stored, and the write cut mid-transaction left nothing.
    from assistant.models import Conversation

    stored = dict(Conversation.objects.filter(owner=user).values_list("pk", "title"))
    audited = set(
        AuditEvent.objects.filter(action="assistant.conversation_create").values_list(
            "target_id", flat=True
        )
    )
    assert audited == {str(pk) for pk in stored}
    titles = set(stored.values())
    creates = [r for r in results if r.kind == "create"]
    assert all(r.title in titles for r in creates if r.status == 201)
    in_flight = [r for r in creates if r.started < cut_at < r.ended]
    assert any(r.status == 503 and r.title not in titles for r in in_flight)
    print(
        f"{len(results)} requests: {sum(r.status == 503 for r in results)} answered 503 while "
        f"down; first success {recovered_in:.2f} s after the database was back"
    )
