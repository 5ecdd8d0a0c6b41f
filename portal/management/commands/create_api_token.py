from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.models import TOKEN_SCOPES
from portal.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USER and print its key once (only a hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="What the token is for.")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Expire after N days (default API_TOKEN_DEFAULT_DAYS; API_TOKEN_MAX_DAYS).",
        )
        parser.add_argument(
            "--scopes",
            default=None,
            help=f"Comma-separated, of {', '.join(TOKEN_SCOPES)} (API_TOKEN_DEFAULT_SCOPES).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist as error:
            raise CommandError(f"No user named {options['username']!r}.") from error
        days = options["days"]
        if days is not None and days <= 0:
            raise CommandError("--days must be a positive number.")
        expires = timezone.now() + timedelta(days=days) if days else None
        try:
            scopes = options["scopes"]
            token, key = api_token_create(
                user=user,
                name=options["name"],
                expires_at=expires,
                scopes=[part.strip() for part in scopes.split(",")] if scopes else None,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stderr.write(
            f"Token {token.prefix}… created for {user.get_username()} (scopes "
            f"{', '.join(token.scopes)}; expires {token.expires_at:%Y-%m-%d}); store it now:"
        )
        self.stdout.write(key)
