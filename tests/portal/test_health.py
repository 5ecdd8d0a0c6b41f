"""/healthz and /readyz (portal/health.py): unauthenticated JSON, no personal data, 200/503."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from portal.permissions import Role


class _Backend:
    def __init__(self, loaded: bool) -> None:
        self.loaded = loaded


@pytest.mark.django_db
def test_healthz_answers_without_io(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response
    assert client.head("/healthz/").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_checks_database_broker_and_model(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "ok"
    assert set(data["checks"]) == {"database", "broker", "embedding_model"}
    assert all(check["ok"] for check in data["checks"].values())
    # Nothing about who asked, no addresses of the servers.
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
@override_settings(EMBEDDING_WARM_ON_START=True)
def test_readyz_reports_the_model_without_loading_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import knowledge.embeddings

    monkeypatch.setattr(knowledge.embeddings, "get_backend", lambda: _Backend(loaded=False))
    response = client.get("/readyz")
    assert response.status_code == 503
    model = response.json()["checks"]["embedding_model"]
    assert model["ok"] is False and model["loaded"] is False

    monkeypatch.setattr(knowledge.embeddings, "get_backend", lambda: _Backend(loaded=True))
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_a_lazily_loaded_model_is_ready(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.embeddings

    # EMBEDDING_WARM_ON_START off (tests, one-off commands): the first search loads it.
    monkeypatch.setattr(knowledge.embeddings, "get_backend", lambda: _Backend(loaded=False))
    check = client.get("/readyz").json()["checks"]["embedding_model"]
    assert check["ok"] is True and check["loaded"] is False


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_readyz_fails_when_the_broker_is_down(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "unavailable"
    assert data["checks"]["database"]["ok"] is True
    assert data["checks"]["broker"] == {
        "ok": False,
        "error": data["checks"]["broker"]["error"],
        "ms": data["checks"]["broker"]["ms"],
    }
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["portal.bank.example"], SECURE_SSL_REDIRECT=True)
def test_probes_skip_host_checks_redirects_sign_in_and_throttling(
    client: Client, make_user: Any
) -> None:
    # A kubelet addresses the pod by IP over plain HTTP; no cookie, no login redirect.
    for path in ("/healthz", "/readyz"):
        for _ in range(3):
            response = client.get(path, HTTP_HOST="10.1.2.3:8000")
            assert response.status_code == 200, (path, response.status_code)
            assert "Set-Cookie" not in response
    # A page on the same terms is refused (the host) as before.
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.django_db
def test_probes_answer_the_same_to_a_signed_in_user(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert "agent" not in client.get("/readyz").content.decode()
