from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"

    def ready(self) -> None:
        from apps.integrations import signals  # noqa: F401
        from apps.integrations.inbound import register_quota_subjects

        register_quota_subjects()
