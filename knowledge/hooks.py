"""The knowledge app in the portal shell: navigation, dashboard cards, demo data."""

from __future__ import annotations

from portal.permissions import Action
from portal.registry import DemoSeeder, MenuItem, register_demo_seeder, register_menu_item


def register() -> None:
    register_menu_item(
        MenuItem(
            "Search",
            "knowledge:search",
            Action.SEARCH_KNOWLEDGE,
            order=20,
            description="Search the policies and procedures your role may read.",
        )
    )
    register_menu_item(
        MenuItem("Documents", "knowledge:document_list", Action.SEARCH_KNOWLEDGE, order=30)
    )
    register_menu_item(
        MenuItem(
            "Content",
            "knowledge:document_list",
            Action.MANAGE_CONTENT,
            order=35,
            in_nav=False,
            description="Collections and documents the assistant answers from.",
        )
    )
    register_demo_seeder(DemoSeeder("knowledge", _seed, order=10))


def _seed() -> str:
    from knowledge.demo import seed_demo

    return seed_demo()
