"""The message center in the portal shell: navigation, the dashboard's service-level panel,
the customer page's panel (invitation, threads)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from assistant.messaging.selectors import (
    drafts_ready_count,
    inbox_summary,
    reviews_pending_count,
    thread_list,
)
from knowledge.customers.selectors import customer_login_of
from portal.permissions import Action
from portal.registry import (
    CUSTOMER_DETAIL,
    DASHBOARD,
    DemoSeeder,
    ErasureStep,
    MenuItem,
    Panel,
    RecordSource,
    RetentionClass,
    register_demo_seeder,
    register_erasure_step,
    register_menu_item,
    register_panel,
    register_record_source,
    register_retention_class,
)


def register() -> None:
    from assistant.messaging.services.erasure import (
        CLASSES,
        messaging_erase,
        messaging_erasure_blockers,
    )

    register_erasure_step(
        ErasureStep("messaging", messaging_erasure_blockers, messaging_erase, CLASSES, order=15)
    )
    from assistant.messaging.services.records import (
        MESSAGE_COLUMNS,
        message_records,
        threads_expired,
        threads_purge,
    )

    register_retention_class(
        RetentionClass(
            "secure_threads",
            "Closed secure threads with their messages, drafts and files",
            threads_purge,
            lambda cutoff, holds: threads_expired(cutoff, holds).count(),
            ("customer", "user"),
            order=25,
        )
    )
    register_record_source(
        RecordSource(
            "secure_messages",
            "Secure messages with customers (notes and withdrawn replies included)",
            MESSAGE_COLUMNS,
            message_records,
            order=25,
        )
    )
    register_demo_seeder(DemoSeeder("messaging", _seed, order=40))
    register_menu_item(
        MenuItem(
            "Secure messages",
            "messaging:inbox",
            Action.HANDLE_MESSAGES,
            order=15,
            description="Customers' secure messages of your regions, with the assistant's drafts.",
        )
    )
    register_panel(
        Panel(
            "messaging.inbox",
            DASHBOARD,
            "messaging/_dashboard_inbox.html",
            _inbox,
            Action.HANDLE_MESSAGES,
            order=5,
        )
    )
    register_panel(
        Panel(
            "messaging.customer",
            CUSTOMER_DETAIL,
            "messaging/_customer_panel.html",
            _customer,
            Action.HANDLE_MESSAGES,
            order=5,
        )
    )


def _inbox(request: HttpRequest) -> dict[str, Any]:
    return {
        "inbox": inbox_summary(request.user),
        "drafts_ready": drafts_ready_count(request.user),
        "reviews_pending": reviews_pending_count(request.user),
    }


def _customer(request: HttpRequest, customer: Any, **kwargs: Any) -> dict[str, Any]:
    from portal.mfa import mfa_device
    from portal.permissions import can

    account = customer_login_of(customer)
    return {
        "panel_customer": customer,
        "customer_account": account,
        "customer_has_app": account is not None and mfa_device(account) is not None,
        "removes_authenticators": can(request.user, Action.MANAGE_HANDOFFS),
        "customer_threads": list(thread_list(request.user).filter(customer=customer)[:10]),
    }


def _seed() -> str:
    from assistant.messaging.demo import seed_messaging

    return seed_messaging()
