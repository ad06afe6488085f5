from apps.accounts.models import AuditEventBase


class AuditEvent(AuditEventBase):
    """Every mutation of the tenant's data, in the tenant's schema."""

    class Meta(AuditEventBase.Meta):
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"
