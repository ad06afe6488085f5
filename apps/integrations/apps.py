from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"

    def ready(self) -> None:
        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.integrations import (
            signals,  # noqa: F401
            tasks,  # noqa: F401  (registers the tasks queueing.py sends by name)
        )
        from apps.integrations.inbound import register_quota_subjects

        register_quota_subjects()

        # here, not at the top: Django imports apps.py before the apps registry is ready
        from apps.integrations.selectors import events_pending_count
        from bizosaas.metrics import register_events_pending_counter

        register_events_pending_counter(events_pending_count)  # the `bizosaas_events_pending` gauge
