from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The tenant's own audit log; a separate app because its table lives in every tenant schema."""

    name = "apps.accounts.audit"
    label = "audit"
    verbose_name = "Tenant audit log"
