from django.apps import AppConfig


class FormsAppConfig(AppConfig):
    name = "forms_app"

    def ready(self) -> None:
        from forms_app import hooks

        hooks.register()
