"""Invitations: staff who handle a customer's region send them a single-use link (to the
e-mail address the bank holds) that sets the password of their account. The same step is
the recovery path: a customer who lost their password asks the bank, whose staff check who
they are and send a new link; the old password stops working at once. Nobody but the
holder of that mailbox can use the link, and signing in still needs the e-mailed code."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from assistant.messaging.models import Invitation
from assistant.messaging.permissions import handles_threads
from knowledge.customers.selectors import customer_records_get
from knowledge.customers.services import customer_login_ensure
from portal.permissions import is_customer
from portal.services import audit_event_record
from portal.types import AnyUser, User

SUBJECT = "Your invitation to the secure message center"
BODY = (
    "Your bank invites you to its secure message center.\n\n"
    "Your user name: {username}\n"
    "Choose your password here (the link works once, for {hours} hours):\n{link}\n\n"
    "If you did not expect this e-mail, call your bank on the number you know; do not use "
    "the link."
)
INVALID = (
    "This link is not valid: it was used, withdrawn or has expired. Ask the bank for a new one."
)


MAX_PER_DAY = 3
ADDRESS_CHANGED_SUBJECT = "Your secure messages now go to another address"
ADDRESS_CHANGED_BODY = (
    "Your bank sent a new sign-in link for the secure message center to another e-mail "
    "address, and your current password no longer works. If you did not ask for this, call "
    "your bank on the number you know."
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_send(*, user: AnyUser, customer_id: int) -> Invitation:
    """Invite (or re-invite) the customer ``customer_id``: a new link by e-mail; earlier
    links stop working, and so does the account's password until the new one is set."""
    if not handles_threads(user):
        raise PermissionDenied("You do not handle customers' secure messages.")
    customer = customer_records_get(user, customer_id).customer  # DoesNotExist: not theirs
    if customer.erased_at is not None:
        raise ValidationError({"customer": "This customer's personal data was erased."})
    if not customer.email:
        raise ValidationError(
            {"customer": "The customer record has no e-mail address to send the link to."}
        )
    now = timezone.now()
    recent = Invitation.objects.filter(customer=customer, created_at__gte=now - timedelta(days=1))
    if recent.count() >= MAX_PER_DAY:
        raise ValidationError(
            {"customer": f"At most {MAX_PER_DAY} links a day are sent to a customer."}
        )
    account, created = customer_login_ensure(actor=user, customer=customer)
    previous_address = "" if created else account.email
    if not created:
        account.email = customer.email
        account.set_unusable_password()  # a re-invitation is the recovery path
        account.save(update_fields=["email", "password"])
    Invitation.objects.filter(user=account, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        customer=customer,
        user=account,
        token_hash=_hash(token),
        expires_at=now + timedelta(hours=settings.CUSTOMER_INVITATION_HOURS),
        created_by=user if isinstance(user, User) else None,
    )
    link = settings.PORTAL_PUBLIC_URL + reverse("secure:invitation", kwargs={"token": token})
    audit_event_record(
        action="messaging.invitation_sent",
        actor=user,
        target=invitation,
        details={"customer": customer.pk, "account": account.pk, "new_account": created},
    )
    # Sent inside the transaction: if the mail server refuses it, nothing is stored and the
    # member of staff sees why (a link that was mailed but not stored would just not work).
    send_mail(
        SUBJECT,
        BODY.format(
            username=account.get_username(), hours=settings.CUSTOMER_INVITATION_HOURS, link=link
        ),
        None,
        [customer.email],
    )
    if previous_address and previous_address.casefold() != customer.email.casefold():
        # The link went to a new address: the old one is told (an account taken over
        # through a changed address does not go unnoticed).
        send_mail(ADDRESS_CHANGED_SUBJECT, ADDRESS_CHANGED_BODY, None, [previous_address])
    return invitation


def invitation_check(token: str) -> Invitation:
    """The usable invitation of ``token`` (ValidationError otherwise, one message for all)."""
    row = (
        Invitation.objects.select_related("user", "customer")
        .filter(token_hash=_hash(token or ""), used_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if row is None or row.expires_at <= timezone.now() or not row.user.is_active:
        raise ValidationError(INVALID)
    if not is_customer(row.user) or row.customer.erased_at is not None:
        raise ValidationError(INVALID)
    return row


@transaction.atomic
def invitation_accept(*, token: str, password: str, password_again: str) -> User:
    """Set the password of the invited account; the link is used up."""
    invitation = invitation_check(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.used_at is not None or invitation.revoked_at is not None:
        raise ValidationError(INVALID)
    account = invitation.user
    if password != password_again:
        raise ValidationError({"password_again": "The two passwords differ."})
    try:
        password_validation.validate_password(password, account)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    account.set_password(password)
    account.save(update_fields=["password"])
    axes_reset(username=account.get_username())  # a fresh start for the sign-in lockout
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    audit_event_record(action="messaging.invitation_accepted", actor=account, target=invitation)
    return account


@transaction.atomic
def customer_authenticator_remove(*, user: AnyUser, customer_id: int) -> int:
    """A supervisor of the customer's region removes the customer's authenticator app and
    recovery codes (after checking who calls, as for a new link): the customer signs in
    with the e-mailed code again. A new sign-in link alone never removes them, so whoever
    controls the customer's mailbox cannot take over an account protected by the app.
    Returns how many devices went."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from knowledge.customers.selectors import customer_login_of
    from portal.permissions import Action, can

    if not (handles_threads(user) and can(user, Action.MANAGE_HANDOFFS)):
        raise PermissionDenied("Only a supervisor removes a customer's authenticator app.")
    records = customer_records_get(user, customer_id)  # of the user's regions, or DoesNotExist
    account = customer_login_of(records.customer)
    if account is None:
        raise ValidationError("This customer has no secure-message account.")
    devices = [TOTPDevice.objects.filter(user=account), StaticDevice.objects.filter(user=account)]
    removed = sum(rows.count() for rows in devices)
    for rows in devices:
        rows.delete()  # a static device's recovery codes go with it
    audit_event_record(
        action="customer.authenticator_removed",
        actor=user,
        target=account,
        details={"customer_id": customer_id, "devices": removed},
    )
    return removed
