"""The load mix of ``bench/load.py``: agents signing in, searching, looking customers up,
pre-filling a form, saving drafts and asking the assistant (the fake model answers).

Run by ``bench/load.py`` (which starts the portal under gunicorn with the production
settings and reads the figures); by hand:
``LOAD_PASSWORD=... locust -f bench/locustfile.py --headless -u 50 -r 25 -t 60s --host URL``.

The portal runs with its production cookies (``__Host-`` names, ``Secure``) on a loopback
address without TLS: the client marks its cookies sendable over plain HTTP after each
response (a browser would be behind TLS). Each agent looks up customers of its own region
(the ids come from ``LOAD_CUSTOMERS``, a JSON file ``bench/load.py`` writes: region code →
ids).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from pathlib import Path
from typing import Any

from locust import HttpUser, between, constant, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "")
USERS = int(os.environ.get("LOAD_ACCOUNTS", "50"))
THINK = os.environ.get("LOAD_THINK", "1") != "0"  # 0: no think time (saturation)
QUERIES = [
    "replacement card fee",
    "how do I dispute a card transaction",
    "annual fee for a standard card",
    "address change proof of residence",
    "chargeback time limit",
    "lost card what to do",
    "overdraft interest",
    "close an account",
]
NAMES = ["garcia", "smith", "muller", "rossi", "martin", "jones"]
QUESTIONS = [
    "What does a replacement card cost?",
    "How long does a customer have to dispute a transaction?",
    "What proof is needed for an address change?",
]
_accounts = itertools.cycle(range(USERS))
_customers_file = os.environ.get("LOAD_CUSTOMERS", "")
CUSTOMERS: dict[str, list[int]] = (
    json.loads(Path(_customers_file).read_text()) if _customers_file else {}
)
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Agent(HttpUser):
    """One front-line agent of the north or south branch (``load-agent-NN``: even numbers
    north, odd south)."""

    wait_time = between(0.5, 2.0) if THINK else constant(0)

    def on_start(self) -> None:
        number = next(_accounts)
        self.username = f"load-agent-{number:02d}"
        self.customers = CUSTOMERS.get("north" if number % 2 == 0 else "south", [])
        send = self.client.request

        def request(*args: Any, **kwargs: Any) -> Any:
            # requests copies the jar into a fresh one per request, so a cookie policy would
            # not stick: the cookies themselves are marked sendable over plain HTTP.
            response = send(*args, **kwargs)
            for cookie in self.client.cookies:
                cookie.secure = False
            return response

        self.client.request = request  # type: ignore[method-assign]
        self.sign_in()
        created = self.client.post(
            "/api/v1/conversations/", json={"title": "Load"}, headers=self._csrf()
        )
        self.conversation = created.json()["id"]

    def _csrf(self) -> dict[str, str]:
        token = next((c.value or "" for c in self.client.cookies if "csrftoken" in c.name), "")
        return {"X-CSRFToken": token, "Referer": self.host or ""}

    def sign_in(self) -> None:
        page = self.client.get("/accounts/login/", name="/accounts/login/ (form)")
        match = _CSRF.search(page.text)
        with self.client.post(
            "/accounts/login/",
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": match.group(1) if match else "",
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            allow_redirects=False,
            name="/accounts/login/ (sign in)",
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}")

    @task(1)
    def sign_in_again(self) -> None:
        self.client.post("/accounts/logout/", headers=self._csrf(), allow_redirects=False)
        self.client.cookies.clear()
        self.sign_in()

    @task(6)
    def search_api(self) -> None:
        query = random.choice(QUERIES)  # noqa: S311 - a load mix, not a secret
        self.client.get(f"/api/v1/search/?q={query}&k=5", name="/api/v1/search/?q=")

    @task(3)
    def search_page(self) -> None:
        query = random.choice(QUERIES)  # noqa: S311
        self.client.get(f"/knowledge/search/?q={query}", name="/knowledge/search/?q=")

    @task(4)
    def customer_lookup(self) -> None:
        query = random.choice(NAMES)  # noqa: S311
        self.client.get(f"/api/v1/customers/?q={query}", name="/api/v1/customers/?q=")
        if self.customers:
            pk = random.choice(self.customers)  # noqa: S311
            self.client.get(f"/api/v1/customers/{pk}/", name="/api/v1/customers/{id}/")

    @task(3)
    def customer_page(self) -> None:
        if self.customers:
            pk = random.choice(self.customers)  # noqa: S311
            self.client.get(f"/customers/{pk}/", name="/customers/{id}/")

    @task(2)
    def prefill(self) -> None:
        if self.customers:
            self.client.post(
                "/api/v1/forms/address-change/prefill/",
                json={"customer_id": random.choice(self.customers)},  # noqa: S311
                headers=self._csrf(),
                name="/api/v1/forms/{slug}/prefill/",
            )

    @task(2)
    def draft(self) -> None:
        if self.customers:
            body: dict[str, Any] = {
                "form": "address-change",
                "customer_id": random.choice(self.customers),  # noqa: S311
                "data": {},
                "submit": False,
            }
            with self.client.post(
                "/api/v1/submissions/",
                json=body,
                headers=self._csrf(),
                name="/api/v1/submissions/ (draft)",
                catch_response=True,
            ) as response:
                if response.status_code != 201:
                    response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(2)
    def ask(self) -> None:
        with self.client.post(
            f"/api/v1/conversations/{self.conversation}/messages/",
            json={"text": random.choice(QUESTIONS)},  # noqa: S311
            headers=self._csrf(),
            name="/api/v1/conversations/{id}/messages/",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(2)
    def dashboard(self) -> None:
        self.client.get("/", name="/ (dashboard)")
