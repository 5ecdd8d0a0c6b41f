"""The REST API: authentication on every route, hashed tokens, one error shape."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent
from portal.permissions import Role
from portal.services import api_token_create, api_token_revoke


def _api_routes() -> list[str]:
    """Every URL under /api/ with sample values for its parameters."""
    routes: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/")
    paths = []
    for route in routes:
        if not route.startswith("/api/"):
            continue
        path = route.replace("^", "").replace("$", "")
        path = re.sub(r"<[^<>]+>", "1", path)  # every path parameter (<int:pk>, <slug:slug> ...)
        paths.append(path)
    return sorted(set(paths))


def test_there_are_api_routes_to_check() -> None:
    routes = _api_routes()
    assert "/api/v1/me/" in routes
    assert "/api/schema/" in routes


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_anonymous_is_refused_everywhere(method: str) -> None:
    client = APIClient()
    for path in _api_routes():
        response = getattr(client, method)(path)
        assert response.status_code in (401, 403), (
            f"{method.upper()} {path} -> {response.status_code}"
        )


@pytest.mark.django_db
def test_me_with_session(client: Client, make_user: Any, regions: dict[str, Any]) -> None:
    user = make_user("agent", Role.AGENT, regions=[regions["north"]])
    client.force_login(user)
    data = client.get("/api/v1/me/").json()
    assert data["username"] == "agent"
    assert data["roles"] == ["agent"]
    assert [r["code"] for r in data["regions"]] == ["north"]
    assert data["sees_all_regions"] is False
    assert "view_customers" in data["actions"]


@pytest.mark.django_db
def test_session_writes_need_csrf(make_user: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("agent", Role.AGENT))
    response = client.post("/api/v1/me/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


@pytest.mark.django_db
def test_token_auth_and_hash_only(make_user: Any) -> None:
    robot = make_user("robot", Role.INTEGRATION)
    token, key = api_token_create(user=robot, name="crm")
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64
    client = APIClient()
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["roles"] == ["integration"]
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


@pytest.mark.django_db
def test_bad_revoked_expired_tokens_and_inactive_users(make_user: Any) -> None:
    robot = make_user("robot", Role.INTEGRATION)
    client = APIClient()
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer not-a-key")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid, expired or revoked token.", "extra": {}}

    token, key = api_token_create(user=robot, name="a")
    api_token_revoke(token=token)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401

    token, key = api_token_create(
        user=robot, name="b", expires_at=timezone.now() + timedelta(seconds=1)
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401

    token, key = api_token_create(user=robot, name="c")
    robot.is_active = False
    robot.save()
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


@pytest.mark.django_db
def test_user_without_role_is_forbidden_and_audited(make_user: Any) -> None:
    nobody = make_user("nobody")
    client = APIClient()
    client.force_authenticate(nobody)
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json() == {"message": "Your account may not use the API.", "extra": {}}
    assert AuditEvent.objects.filter(action="permission.denied", actor=nobody).exists()


@pytest.mark.django_db
def test_create_api_token_command(make_user: Any, capsys: pytest.CaptureFixture[str]) -> None:
    robot = make_user("robot", Role.INTEGRATION)
    call_command(
        "create_api_token", "robot", "--name", "etl", "--days", "30", "--scopes", "read,write"
    )
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=robot)
    assert token.name == "etl" and token.scopes == ["read", "write"]
    assert token.expires_at is not None
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="api_token.created", target_id=str(token.pk)).exists()


@pytest.mark.django_db
def test_admin_creates_token_and_shows_key_once(client: Client, make_user: Any) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    robot = make_user("robot", Role.INTEGRATION)
    # A new key needs a session that gave an MFA code in the last 15 minutes.
    client.post(
        "/accounts/login/", {"username": "root", "password": "correct horse battery staple"}
    )
    client.get("/accounts/mfa/enrol/")
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    code = str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits))
    assert client.post("/accounts/mfa/enrol/", {"code": code.zfill(6)}).status_code == 200
    add = reverse("admin:portal_apitoken_add")
    response = client.post(
        add, {"user": robot.pk, "name": "billing", "scopes": ["read", "write"]}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "Copy the key now" in str(m)]
    assert len(shown) == 1
    key = shown[0].rsplit(" ", 1)[-1]
    token = ApiToken.objects.get(user=robot, name="billing")
    assert token.scopes == ["read", "write"]
    # An existing token's page is read-only (it was a 500: the form's fields are not there).
    shown_page = client.get(reverse("admin:portal_apitoken_change", args=[token.pk]))
    assert shown_page.status_code == 200 and "billing" in shown_page.content.decode()
    assert token.expires_at is not None  # the default expiry
    assert APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    # Mistakes are form errors, not 500s, and create nothing.
    for bad, error in (
        ({"scopes": []}, "This field is required"),
        ({"scopes": ["admin"]}, "Select a valid choice"),
        ({"scopes": ["read"], "expires_at_0": "2001-01-01", "expires_at_1": "00:00"}, "future"),
        ({"scopes": ["read"], "expires_at_0": "2099-01-01", "expires_at_1": "00:00"}, "at most"),
    ):
        page = client.post(add, {"user": robot.pk, "name": "again", **bad})
        assert page.status_code == 200 and error in page.content.decode(), bad
    assert not ApiToken.objects.filter(name="again").exists()


@pytest.mark.django_db
def test_token_scopes_are_enforced_with_the_scope_named(make_user: Any) -> None:
    agent = make_user("agent", Role.AGENT)
    client = APIClient()

    def call(key: str, method: str, path: str) -> Any:
        return getattr(client, method)(path, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")

    _, read = api_token_create(user=agent, name="reader", scopes=["read"])
    _, write = api_token_create(user=agent, name="writer", scopes=["write"])
    _, assistant = api_token_create(user=agent, name="bot", scopes=["assistant"])
    assert call(read, "get", "/api/v1/me/").status_code == 200
    assert call(read, "get", "/api/v1/search/?q=fees").status_code == 200
    for key, method, path, scope in (
        (read, "post", "/api/v1/submissions/", "write"),
        (read, "get", "/api/v1/conversations/", "assistant"),
        (write, "get", "/api/v1/me/", "read"),
        (write, "post", "/api/v1/conversations/", "assistant"),
        (assistant, "get", "/api/v1/customers/?q=smith", "read"),
        (assistant, "post", "/api/v1/submissions/", "write"),
    ):
        response = call(key, method, path)
        assert response.status_code == 403, (method, path)
        assert response.json()["message"] == f"This API token lacks the '{scope}' scope."
    assert call(assistant, "get", "/api/v1/conversations/").status_code == 200
    assert call(assistant, "post", "/api/v1/conversations/").status_code == 201
    assert call(write, "post", "/api/v1/submissions/").status_code == 400  # in, then validated
    # A session is limited by its user's role only.
    client.force_authenticate(agent)
    assert client.get("/api/v1/conversations/").status_code == 200


@pytest.mark.django_db
def test_tokens_expire_by_default_and_scopes_are_checked(make_user: Any) -> None:
    robot = make_user("robot", Role.INTEGRATION)
    token, _ = api_token_create(user=robot, name="default")
    assert token.scopes == ["read"]  # API_TOKEN_DEFAULT_SCOPES
    assert token.expires_at is not None
    days = (token.expires_at - timezone.now()).total_seconds() / 86400
    assert 89.9 < days <= 90
    with pytest.raises(ValidationError, match="at most 365 days"):
        api_token_create(user=robot, name="x", expires_at=timezone.now() + timedelta(days=400))
    with pytest.raises(ValidationError, match="Choose one or more"):
        api_token_create(user=robot, name="x", scopes=["read", "root"])
    with pytest.raises(ValidationError, match="Choose one or more"):
        api_token_create(user=robot, name="x", scopes=[])


@pytest.mark.django_db
def test_schema_and_docs_need_login_and_use_local_assets(client: Client, make_user: Any) -> None:
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(make_user("agent", Role.AGENT))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "http://" not in html
    assert "https://" not in html


@pytest.mark.django_db
def test_me_without_an_email_is_what_the_schema_says(client: Client, make_user: Any) -> None:
    """Found by the API fuzzer: an account without an email answered "", which the schema's
    `format: email` refused."""
    client.force_login(make_user("agent", Role.AGENT))
    assert client.get("/api/v1/me/").json()["email"] == ""
    schema = client.get("/api/schema/?format=json").json()
    email = schema["components"]["schemas"]["Me"]["properties"]["email"]
    assert {"type": "string", "format": "email"} in email["oneOf"]
    assert {"type": "string", "maxLength": 0} in email["oneOf"]
