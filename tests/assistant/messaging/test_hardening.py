"""The secure message center under pressure: accounts nobody can redirect, regions that
follow the customer, replies that do not swallow newer messages, erasure, limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client

from assistant.messaging.models import Draft, DraftStatus, SecureMessage, Thread, ThreadStatus
from assistant.messaging.services.erasure import messaging_erase, messaging_erasure_blockers
from assistant.messaging.services.invitations import invitation_send
from assistant.messaging.services.threads import (
    customer_message_post,
    message_retract,
    staff_reply_send,
    thread_start,
)
from portal.permissions import Role
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.django_db


def _start(user: Any, body: str = "Where is my new card?") -> Thread:
    return thread_start(user=user, subject="Card", category="general", body=body)


def test_customer_accounts_are_not_in_the_users_admin(customer_user: Any, make_user: Any) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    assert client.get(f"/admin/auth/user/{customer_user.pk}/change/").status_code in (302, 404)
    listing = client.get("/admin/auth/user/").content.decode()
    assert customer_user.username not in listing
    staff = make_user("someone", Role.AGENT)
    page = client.get(f"/admin/auth/user/{staff.pk}/change/")
    assert page.status_code == 200
    customer_group = Group.objects.get(name="customer")
    form = page.context["adminform"].form
    data = {
        key: value
        for key, value in form.initial.items()
        if value is not None and not isinstance(value, list | tuple)
    }
    data.update(
        username="someone",
        groups=[customer_group.pk],
        date_joined_0="2026-01-01",
        date_joined_1="00:00:00",
        **{
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-0-user": str(staff.pk),
            "profile-0-id": str(staff.profile.pk),
        },
    )
    response = client.post(f"/admin/auth/user/{staff.pk}/change/", data)
    assert response.status_code == 200 and "never given to a staff account" in response.text
    assert not staff.groups.filter(name="customer").exists()


def test_sign_in_codes_go_to_the_address_on_the_customer_record(
    customer_user: Any, mailbox: Mailbox, settings: Any
) -> None:
    customer_user.email = "attacker@example.test"
    customer_user.save()
    client = Client()
    client.post(
        "/secure/login/", {"username": customer_user.username, "password": "customer password 123"}
    )
    assert not mailbox.to("attacker@example.test")
    assert mailbox.to(customer_user.customer_login.customer.email)


def test_threads_follow_the_customers_region(
    customer_user: Any, staff: dict[str, Any], regions: dict[str, Any]
) -> None:
    thread = _start(customer_user)
    customer = customer_user.customer_login.customer
    customer.region = regions["south"]
    customer.save()
    north, south = Client(), Client()
    north.force_login(staff["agent"])
    south.force_login(staff["south_agent"])
    assert north.get(f"/messages/{thread.pk}/").status_code == 404
    assert south.get(f"/messages/{thread.pk}/").status_code == 200


def test_a_reply_leaves_messages_written_meanwhile_unanswered(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _start(customer_user)
    seen = SecureMessage.objects.get(thread=thread).pk
    later = customer_message_post(user=customer_user, thread=thread, body="Also: my PIN?")
    staff_reply_send(user=staff["agent"], thread=thread, body="Your card is on its way.", seen=seen)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.AWAITING_BANK
    assert thread.waiting_since == later.created_at
    drafts = dict(Draft.objects.filter(thread=thread).values_list("message_id", "status"))
    assert drafts == {seen: DraftStatus.SUPERSEDED, later.pk: DraftStatus.PENDING}


def test_withdrawing_the_only_reply_makes_the_thread_wait_again(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _start(customer_user)
    first = SecureMessage.objects.get(thread=thread)
    reply = staff_reply_send(user=staff["agent"], thread=thread, body="Oops")
    message_retract(user=staff["agent"], message=reply)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.AWAITING_BANK
    assert thread.waiting_since == first.created_at


def test_erasure_overwrites_the_words_and_closes_the_account(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _start(customer_user, body="My secret question: wallabyword")
    customer = customer_user.customer_login.customer
    assert messaging_erasure_blockers(customer.pk, None)  # the bank owes an answer
    staff_reply_send(user=staff["agent"], thread=thread, body="Answered: koalaword")
    assert messaging_erasure_blockers(customer.pk, None) == []
    counts = messaging_erase(customer.pk)
    assert counts["secure_messages"] == 2 and counts["customer_accounts"] == 1
    bodies = set(SecureMessage.objects.filter(thread=thread).values_list("body", flat=True))
    assert bodies == {"[erased]"}
    customer_user.refresh_from_db()
    assert not customer_user.is_active and customer_user.email == ""


def test_customers_may_not_flood_the_inbox(customer_user: Any, settings: Any) -> None:
    settings.SECURE_CUSTOMER_MESSAGES_PER_HOUR = 2
    thread = _start(customer_user)
    customer_message_post(user=customer_user, thread=thread, body="two")
    with pytest.raises(ValidationError, match="last hour"):
        customer_message_post(user=customer_user, thread=thread, body="three")
    assert SecureMessage.objects.filter(thread=thread).count() == 2


def test_recovery_links_are_limited_and_an_old_address_is_told(
    customer_user: Any, staff: dict[str, Any], mailbox: Mailbox
) -> None:
    customer = customer_user.customer_login.customer
    customer_user.email = "old.address@example.test"
    customer_user.save()
    invitation_send(user=staff["agent"], customer_id=customer.pk)
    (notice,) = mailbox.to("old.address@example.test")
    assert "another e-mail address" in Mailbox.body(notice)
    assert not re.search(r"/secure/invitation/", Mailbox.body(notice))
    invitation_send(user=staff["agent"], customer_id=customer.pk)
    invitation_send(user=staff["agent"], customer_id=customer.pk)
    with pytest.raises(ValidationError, match="links a day"):
        invitation_send(user=staff["agent"], customer_id=customer.pk)


def test_invalid_text_is_a_validation_error_for_direct_callers(customer_user: Any) -> None:
    with pytest.raises(ValidationError) as invalid:
        thread_start(user=customer_user, subject="ok", category="general", body="bad \x00 text")
    assert "body" in invalid.value.message_dict
    with pytest.raises(ValidationError) as invalid:
        thread_start(user=customer_user, subject="bad \ud800", category="general", body="fine")
    assert "subject" in invalid.value.message_dict


def test_links_and_images_in_messages_render_inert(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    hostile = (
        "[click](https://evil.example/a) ![x](https://evil.example/i.png) "
        '<a href="https://evil.example/b">b</a> <img src="https://evil.example/c.png">'
    )
    thread = _start(customer_user, body=hostile)
    staff_reply_send(user=staff["agent"], thread=thread, body=hostile)
    for user, url in (
        (customer_user, f"/secure/threads/{thread.pk}/"),
        (staff["agent"], f"/messages/{thread.pk}/"),
    ):
        client = Client()
        client.force_login(user)
        page = client.get(url).content.decode()
        assert "evil.example" in page  # shown as text...
        assert 'href="https://evil' not in page and 'src="https://evil' not in page  # ...inert


def test_a_lost_draft_is_queued_again_then_given_up(customer_user: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from assistant.messaging.services.drafting import GAVE_UP, drafts_requeue_stale

    lost = Draft.objects.get(thread=_start(customer_user))
    hopeless = Draft.objects.get(thread=_start(customer_user, body="Another question"))
    Draft.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    Draft.objects.filter(pk=hopeless.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert drafts_requeue_stale() == [lost.pk]
    hopeless.refresh_from_db()
    assert hopeless.status == DraftStatus.FAILED and hopeless.error == GAVE_UP
