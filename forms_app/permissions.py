"""Who may fill and who may manage form definitions: built on portal.permissions, in SQL."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from forms_app.models import DefinitionStatus, FormDefinition, FormSubmission, SubmissionStatus
from knowledge.customers.selectors import own_customer
from portal.permissions import Action, Role, can, has_role, is_customer, region_filter, user_roles
from portal.types import AnyUser, account_of


def current_definitions() -> QuerySet[FormDefinition]:
    """The current version of every slug: published, with no higher published version."""
    higher = FormDefinition.objects.filter(
        slug=OuterRef("slug"),
        status=DefinitionStatus.PUBLISHED,
        version__gt=OuterRef("version"),
    )
    return FormDefinition.objects.filter(status=DefinitionStatus.PUBLISHED).filter(~Exists(higher))


def definitions_fillable_by(user: AnyUser) -> QuerySet[FormDefinition]:
    """Current definitions whose fill roles include one of ``user``'s roles."""
    roles = sorted(role.value for role in user_roles(user))
    if not roles or not can(user, Action.FILL_FORMS):
        return FormDefinition.objects.none()
    return current_definitions().filter(fill_roles__overlap=roles)


def can_fill_definition(user: AnyUser, definition: FormDefinition) -> bool:
    return definitions_fillable_by(user).filter(pk=definition.pk).exists()


def can_manage_definitions(user: AnyUser) -> bool:
    """Content managers and admins write and preview definitions."""
    return can(user, Action.MANAGE_CONTENT) or has_role(user, Role.ADMIN)


def definitions_managed_by(user: AnyUser) -> QuerySet[FormDefinition]:
    """Every definition (all versions) for who manages definitions; none for anyone else."""
    if not can_manage_definitions(user):
        return FormDefinition.objects.none()
    return FormDefinition.objects.all()


# Submissions --------------------------------------------------------------------------


def _role_values(user: AnyUser) -> list[str]:
    return sorted(role.value for role in user_roles(user))


def _customer_region_q(user: AnyUser) -> Q:
    return region_filter(user, "customer__region")


def submissions_owned_by(user: AnyUser) -> QuerySet[FormSubmission]:
    """``user``'s own submissions whose customer they may still see (region, in SQL)."""
    if not can(user, Action.FILL_FORMS) or not can(user, Action.VIEW_CUSTOMERS):
        return FormSubmission.objects.none()
    # A form the user sent to a customer stays theirs after the customer confirmed it.
    mine = Q(submitted_by=account_of(user)) | Q(prepared_by=account_of(user))
    return FormSubmission.objects.filter(_customer_region_q(user)).filter(mine)


def submissions_reviewable_by(user: AnyUser) -> QuerySet[FormSubmission]:
    """Non-draft submissions ``user`` may review: a review role of the definition, the
    review_forms action and the customer's region (compliance and admin: every region)."""
    roles = _role_values(user)
    if not roles or not can(user, Action.REVIEW_FORMS):
        return FormSubmission.objects.none()
    return FormSubmission.objects.filter(
        _customer_region_q(user), definition__review_roles__overlap=roles
    ).exclude(status=SubmissionStatus.DRAFT)


def submissions_visible_to(user: AnyUser) -> QuerySet[FormSubmission]:
    """Submissions ``user`` may open: their own, or the ones they may review."""
    own = submissions_owned_by(user).values("pk")
    reviewable = submissions_reviewable_by(user).values("pk")
    return FormSubmission.objects.filter(Q(pk__in=own) | Q(pk__in=reviewable))


def can_edit_submission(user: AnyUser, submission: FormSubmission) -> bool:
    """The owner, still a fill role of the definition, with the customer visible."""
    return (
        submission.submitted_by_id == getattr(user, "pk", None)
        and bool(set(_role_values(user)) & set(submission.definition.fill_roles))
        and submissions_owned_by(user).filter(pk=submission.pk).exists()
    )


def can_review_submission(user: AnyUser, submission: FormSubmission) -> bool:
    """An eligible reviewer who is not the submitter (nobody reviews their own work)."""
    if submission.submitted_by_id == getattr(user, "pk", None):
        return False
    return submissions_reviewable_by(user).filter(pk=submission.pk).exists()


def submissions_in_admin(user: AnyUser) -> QuerySet[FormSubmission]:
    """The submissions the Django admin shows ``user``: the ones they may open in the portal
    and, for administrators (who see customer records in the admin only, docs/roles.md), the
    submissions of the customers of their regions (every region)."""
    visible = submissions_visible_to(user)
    if not has_role(user, Role.ADMIN):
        return visible
    in_regions = FormSubmission.objects.filter(_customer_region_q(user)).values("pk")
    return FormSubmission.objects.filter(Q(pk__in=visible.values("pk")) | Q(pk__in=in_regions))


def submissions_sent_to(user: AnyUser) -> QuerySet[FormSubmission]:
    """The forms sent to ``user``, a customer: their own record's, sent to them (the
    secure message center); none for anyone else."""
    customer = own_customer(user) if is_customer(user) else None
    if customer is None:
        return FormSubmission.objects.none()
    return FormSubmission.objects.filter(customer_id=customer.pk, sent_to_customer_at__isnull=False)
