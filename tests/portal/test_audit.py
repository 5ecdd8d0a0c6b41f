"""The audit trail: one service, append-only in the database, browsable by auditors."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, Region
from portal.permissions import Role
from portal.services import audit_event_record


@pytest.fixture
def event(db: None) -> AuditEvent:
    return audit_event_record(action="test.event", actor_username="tester", details={"k": "v"})


@pytest.mark.django_db
def test_raw_sql_update_is_refused(event: AuditEvent) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE portal_auditevent SET action = 'tampered' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.action == "test.event"


@pytest.mark.django_db
def test_raw_sql_delete_is_refused(event: AuditEvent) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM portal_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_orm_update_and_delete_are_refused(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.django_db
def test_request_id_and_ip_come_from_the_request(client: Client, make_user: Any) -> None:
    make_user("ivy", Role.AGENT)
    response = client.post(
        reverse("login"),
        {"username": "ivy", "password": "correct horse battery staple"},
        REMOTE_ADDR="192.0.2.7",
        HTTP_X_REQUEST_ID="trace-abcdef123",
    )
    # The id is always ours; the client's (well-formed) one is kept apart, for correlation.
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and request_id != "trace-abcdef123"
    event = AuditEvent.objects.get(action="auth.login")
    assert event.request_id == request_id
    assert event.details["client_request_id"] == "trace-abcdef123"
    assert event.ip_address == "192.0.2.7"


HOSTILE_REQUEST_IDS = [
    "<script>alert(1)</script>",
    "admin-0001' OR '1'='1",
    "a" * 65,
    "line\r\nbreak",
    "forged-request-id-0001",  # well-formed, but a client's word is not our id
]


@pytest.mark.django_db
@pytest.mark.parametrize("hostile", HOSTILE_REQUEST_IDS)
def test_a_client_never_chooses_the_audited_request_id(
    client: Client, make_user: Any, hostile: str
) -> None:
    make_user("ivy", Role.AGENT)
    response = client.post(
        reverse("login"),
        {"username": "ivy", "password": "wrong password"},
        HTTP_X_REQUEST_ID=hostile,
    )
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.request_id == response["X-Request-ID"]
    assert event.request_id != hostile and len(event.request_id) == 32
    # Kept apart only when it is a plain id ([A-Za-z0-9._-]{1,64}).
    assert event.details.get("client_request_id") == (
        hostile if hostile == "forged-request-id-0001" else None
    )


@pytest.mark.django_db
def test_a_trusted_proxy_sets_the_request_id(client: Client, make_user: Any, settings: Any) -> None:
    make_user("ivy", Role.AGENT)
    settings.TRUSTED_PROXY_REQUEST_ID = ["10.0.0.0/8"]
    login = {"username": "ivy", "password": "wrong password"}
    via_proxy = client.post(
        reverse("login"), login, REMOTE_ADDR="10.1.2.3", HTTP_X_REQUEST_ID="proxy-req-00001"
    )
    assert via_proxy["X-Request-ID"] == "proxy-req-00001"
    direct = client.post(
        reverse("login"), login, REMOTE_ADDR="192.0.2.7", HTTP_X_REQUEST_ID="proxy-req-00002"
    )
    assert direct["X-Request-ID"] != "proxy-req-00002"
    # Even a trusted proxy's value must look like an id.
    odd = client.post(
        reverse("login"), login, REMOTE_ADDR="10.1.2.3", HTTP_X_REQUEST_ID="<b>proxy</b>-0001"
    )
    assert odd["X-Request-ID"] != "<b>proxy</b>-0001"
    ids = set(AuditEvent.objects.filter(action="auth.login_failed").values_list("request_id"))
    assert ids == {
        ("proxy-req-00001",),
        (direct["X-Request-ID"],),
        (odd["X-Request-ID"],),
    }


@pytest.mark.django_db
def test_admin_changes_are_audited(make_user: Any, regions: dict[str, Region]) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    LogEntry.objects.log_actions(
        user_id=admin.pk,
        queryset=[regions["north"]],
        action_flag=CHANGE,
        change_message="Changed name.",
        single_object=True,
    )
    event = AuditEvent.objects.get(action="admin.changed")
    assert event.actor_id == admin.pk
    assert event.target_type == "portal.region"
    assert event.target_id == str(regions["north"].pk)
    assert ContentType.objects.get_for_model(Region)


@pytest.mark.django_db
def test_admin_site_change_is_audited_end_to_end(client: Client, make_user: Any) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(reverse("admin:portal_region_add"), {"code": "east", "name": "East"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.added")
    assert event.target_type == "portal.region"
    assert event.details["object"] == "East"


@pytest.mark.django_db
def test_agent_cannot_browse_audit_and_denial_is_recorded(client: Client, make_user: Any) -> None:
    agent = make_user("jo", Role.AGENT)
    client.force_login(agent)
    response = client.get(reverse("portal:audit_list"))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied", actor=agent).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.ADMIN])
def test_auditors_browse_and_filter(client: Client, make_user: Any, role: Role) -> None:
    auditor = make_user("aud", role)
    audit_event_record(action="auth.login_failed", actor_username="mallory")
    audit_event_record(action="test.other", actor_username="someone")
    client.force_login(auditor)
    response = client.get(reverse("portal:audit_list"), {"action": "auth.login_failed"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "mallory" in body
    assert "test.other" not in body
    assert response.context["total"] == 1
    response = client.get(
        reverse("portal:audit_list"), {"date_from": "2030-01-02", "date_to": "2030-01-01"}
    )
    assert "must not be after" in response.content.decode()


@pytest.mark.django_db
def test_details_are_escaped_in_the_page(client: Client, make_user: Any) -> None:
    auditor = make_user("aud", Role.COMPLIANCE)
    audit_event_record(action="test.xss", details={"q": "<script>alert(1)</script>"})
    client.force_login(auditor)
    body = client.get(reverse("portal:audit_list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


@pytest.mark.django_db
def test_admin_shows_audit_read_only(client: Client, make_user: Any, event: AuditEvent) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get(reverse("admin:portal_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:portal_auditevent_add")).status_code == 403
    response = client.post(
        reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_audit_pages_keep_the_filters(client: Client, make_user: Any) -> None:
    client.force_login(make_user("aud", Role.COMPLIANCE))
    for i in range(55):
        audit_event_record(action="test.bulk", details={"i": i})
    first = client.get(reverse("portal:audit_list"), {"action": "test.bulk"})
    body = first.content.decode()
    assert "Page 1 of 2" in body and "?page=2&amp;action=test.bulk" in body
    second = client.get(reverse("portal:audit_list"), {"action": "test.bulk", "page": 2})
    assert len(second.context["events"]) == 5
