from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and tenants"

    def ready(self) -> None:
        from apps.accounts import quotas, schema  # noqa: F401  (the OpenAPI auth extension; quota caches follow saves)
