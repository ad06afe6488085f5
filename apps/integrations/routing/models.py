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
