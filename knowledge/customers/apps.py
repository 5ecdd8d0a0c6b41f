from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Customer records: their own app (label ``customers``) inside ``knowledge``.

    The tables keep their original ``knowledge_*`` names (moved with
    ``SeparateDatabaseAndState``, no data moved).
    """

    name = "knowledge.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from knowledge.customers import hooks

        hooks.register()
