from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.identity.provisioning import scim_token_create, scim_token_revoke
from portal.models import ScimToken


class Command(BaseCommand):
    help = (
        "Bearer tokens of the identity provider's provisioning client (SCIM, /scim/v2/): "
        "create NAME (prints the token once; only a hash is stored), revoke NAME, list."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "revoke", "list"])
        parser.add_argument("name", nargs="?", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        action, name = options["action"], options["name"].strip()
        if action == "list":
            for token in ScimToken.objects.order_by("name"):
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(f"{token.name}\t{token.prefix}…\t{state}\tlast used {used}")
            return
        if not name:
            raise CommandError(f"scim_token {action} needs the token's NAME.")
        if action == "create":
            try:
                token, key = scim_token_create(name=name)
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from error
            self.stderr.write(f"SCIM token {token.name!r} ({token.prefix}…) created; store it now:")
            self.stdout.write(key)
            return
        token_row = ScimToken.objects.filter(name=name, revoked_at__isnull=True).first()
        if token_row is None:
            raise CommandError(f"No live SCIM token named {name!r}.")
        scim_token_revoke(token=token_row)
        self.stderr.write(f"SCIM token {name!r} revoked.")
