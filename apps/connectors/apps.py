from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.connectors.registry import load_providers

        load_providers()

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.accounts.quotas import register_counter
        from apps.connectors.models import Connection

        register_counter("connections", lambda since: Connection.objects.count())
