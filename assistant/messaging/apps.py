from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """The customers' secure message center: threads, messages, drafts by the assistant."""

    name = "assistant.messaging"
    label = "messaging"
    verbose_name = "Secure messages"

    def ready(self) -> None:
        from assistant.messaging import hooks

        hooks.register()
