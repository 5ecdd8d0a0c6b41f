"""Customer records in the portal shell: navigation, dashboard card, demo data."""

from __future__ import annotations

from portal.permissions import Action
from portal.registry import (
    DemoSeeder,
    ErasureStep,
    MenuItem,
    register_demo_seeder,
    register_erasure_step,
    register_menu_item,
)


def register() -> None:
    register_menu_item(
        MenuItem(
            "Customers",
            "customers:search",
            Action.VIEW_CUSTOMERS,
            order=40,
            description="Customer records of your regions, masked by role.",
        )
    )
    register_demo_seeder(DemoSeeder("customers", _seed, order=20))
    from knowledge.customers.services import (
        ERASURE_CLASSES,
        customer_erase_records,
        customer_erasure_blockers,
        customer_erasure_describe,
        customer_erasure_lock,
    )

    register_erasure_step(
        ErasureStep(
            "customers",
            customer_erasure_blockers,
            customer_erase_records,
            ERASURE_CLASSES,
            describe=customer_erasure_describe,
            lock=customer_erasure_lock,
            order=90,  # last: the other apps read the customer's links first
        )
    )


def _seed() -> str:
    from knowledge.customers.demo import seed_customers

    return f"{seed_customers()} new demo customers"
