"""Public schema: which tenant and endpoint an inbound webhook token belongs to (the URL carries no tenant)."""

from __future__ import annotations

from django.db import models


class WebhookRoute(models.Model):
    token = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="webhook_routes")
    endpoint_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "endpoint_id"], name="uniq_route_per_endpoint")]

    def __str__(self) -> str:
        return f"route to endpoint {self.endpoint_id} of tenant {self.tenant_id}"


class PendingWork(models.Model):
    """Public schema: one row for each tenant event, delivery and rule action that a worker still owes (pending, or
    being sent or performed). PostgreSQL triggers on the tenant tables keep it, in the same transaction as the row
    itself (migration integrations 0003), so nothing accepted can be missing from it and no code path has to
    remember it. The sweeper and the pending-events metric read it instead of visiting every tenant schema: their
    cost follows the work owed, not the number of tenants."""

    class Kind(models.TextChoices):
        EVENT = "event"  # state pending; `at` is received_at
        DELIVERY = "delivery"  # state pending (`at`: next_attempt_at) or sending (`at`: claimed_at)
        ACTION = "action"  # state pending (`at`: next_attempt_at) or running (`at`: started_at)
        APPROVAL = "approval"  # an agent approval, state pending (`at`: expires_at); object_id hashes its uuid

    schema_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    object_id = models.BigIntegerField()
    state = models.CharField(max_length=10)
    at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schema_name", "kind", "object_id"], name="uniq_pending_work"),
        ]
        indexes = [models.Index(fields=["kind", "state", "at"], name="pending_work_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} of {self.schema_name}: {self.state}"
