"""Demo regions, one user per role, then every app's demo data; safe to run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.permissions import Role
from portal.registry import demo_seeders
from portal.services import region_ensure, user_ensure

REGIONS = [("north", "North branch"), ("south", "South branch")]

# username, roles, region codes, staff, superuser, first name, last name
DEMO_USERS: list[tuple[str, list[Role], list[str], bool, bool, str, str]] = [
    ("agent", [Role.AGENT], ["north"], False, False, "Alex", "Agent"),
    ("agent_south", [Role.AGENT], ["south"], False, False, "Sam", "South"),
    ("supervisor", [Role.SUPERVISOR], ["north"], False, False, "Pat", "Supervisor"),
    # Head office: no region, works the central hand-off queue (requesters without a region)
    ("supervisor_hq", [Role.SUPERVISOR], [], False, False, "Jo", "Head-Office"),
    ("compliance", [Role.COMPLIANCE], [], False, False, "Casey", "Compliance"),
    ("content", [Role.CONTENT_MANAGER], [], True, False, "Robin", "Content"),
    ("admin", [Role.ADMIN], [], True, True, "Ada", "Admin"),
    ("integration", [Role.INTEGRATION], [], False, False, "Integration", "Service"),
]


class Command(BaseCommand):
    help = "Create the demo regions and users (password from DEMO_PASSWORD). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        regions = {code: region_ensure(code=code, name=name) for code, name in REGIONS}
        password = settings.DEMO_PASSWORD
        if not password:
            raise CommandError("Set DEMO_PASSWORD: demo users get that password.")
        for username, roles, codes, staff, superuser, first, last in DEMO_USERS:
            _, created = user_ensure(
                username=username,
                password=password,
                roles=roles,
                regions=[regions[code] for code in codes],
                email=f"{username}@demo.example",
                first_name=first,
                last_name=last,
                is_staff=staff,
                is_superuser=superuser,
            )
            verb = "created" if created else "up to date"
            self.stdout.write(f"  {username:<12} {', '.join(roles):<16} {verb}")
        # Each app registers its demo data in its AppConfig.ready() (portal.registry).
        for seeder in demo_seeders():
            self.stdout.write(f"  {seeder.seed()}")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
