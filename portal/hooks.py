"""The portal's own entries in its registry (called from ``PortalConfig.ready``)."""

from __future__ import annotations

from portal.permissions import Action
from portal.records.retention import PORTAL_CLASSES
from portal.registry import MenuItem, register_menu_item, register_retention_class


def register() -> None:
    for retention in PORTAL_CLASSES:
        register_retention_class(retention)
    register_menu_item(MenuItem("Dashboard", "portal:dashboard", order=0))
    register_menu_item(
        MenuItem(
            "Audit trail",
            "portal:audit_list",
            Action.VIEW_AUDIT,
            order=90,
            description="Browse and filter every recorded event.",
        )
    )
    register_menu_item(
        MenuItem(
            "Audit integrity",
            "portal:audit_verify",
            Action.VIEW_AUDIT,
            order=91,
            in_nav=False,
            description="Verify the audit trail's hash chain and its signed anchors.",
        )
    )
    register_menu_item(
        MenuItem(
            "Exports for regulators",
            "portal:export_list",
            Action.SUPERVISE_ANSWERS,
            order=93,
            in_nav=False,
            description="Audit events, conversations and submissions of a period, a user "
            "or a customer, as JSON Lines and CSV with a manifest.",
        )
    )
    register_menu_item(
        MenuItem(
            "Retention and legal holds",
            "portal:retention",
            Action.VIEW_AUDIT,
            order=94,
            in_nav=False,
            description="How long each kind of record is kept; legal holds that keep them.",
        )
    )
    register_menu_item(
        MenuItem(
            "Erasure of personal data",
            "portal:erasure",
            Action.VIEW_AUDIT,
            order=95,
            in_nav=False,
            description="Erase a customer's personal data on request; erasure certificates.",
        )
    )
    register_menu_item(
        MenuItem(
            "Access review",
            "portal:access_review",
            Action.VIEW_AUDIT,
            order=92,
            in_nav=False,
            description="Who can see what, how it was granted; certify or revoke.",
        )
    )
    register_menu_item(
        MenuItem(
            "Users and roles",
            "admin:index",
            Action.MANAGE_USERS,
            order=95,
            in_nav=False,
            description="Manage users, roles and regions in the admin.",
        )
    )
