from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class MessagingConfig(AppConfig):
    """The customers' secure message center: threads, messages, drafts by the assistant."""

    name = "assistant.messaging"
    label = "messaging"
    verbose_name = "Secure messages"

    def ready(self) -> None:
        from assistant.messaging import hooks

        hooks.register()
        checks.register(check_auto_send_settings)


def check_auto_send_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """A category misspelt in SECURE_AUTO_SEND_CATEGORIES would silently send nothing."""
    from assistant.messaging.models import Category

    found: list[checks.CheckMessage] = []
    unknown = sorted(set(settings.SECURE_AUTO_SEND_CATEGORIES) - set(Category.values))
    if unknown:
        found.append(
            checks.Error(
                f"SECURE_AUTO_SEND_CATEGORIES names unknown categories: {', '.join(unknown)}.",
                hint=f"Use some of: {', '.join(Category.values)}.",
                id="messaging.E001",
            )
        )
    percent = settings.SECURE_AUTO_SEND_REVIEW_PERCENT
    if not 0 <= percent <= 100:
        found.append(
            checks.Error(
                "SECURE_AUTO_SEND_REVIEW_PERCENT must be between 0 and 100.", id="messaging.E002"
            )
        )
    return found
