from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import hooks, signals  # noqa: F401 (signals: receivers)

        hooks.register()
