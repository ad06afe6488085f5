"""Reads of the integrations app that other parts of the platform ask for (metrics, the sweeper's gauges)."""

from __future__ import annotations

from django.db.models import OuterRef

from apps.accounts.models import active_tenant_exists
from apps.integrations.routing.models import PendingWork
from bizosaas.metrics import EVENTS_PENDING_CAP


def events_pending_count() -> int:
    """Pending events of active tenants, counted in the public index of owed work (PendingWork): one indexed
    count, capped at EVENTS_PENDING_CAP, whatever the number of tenants."""
    pending = PendingWork.objects.filter(
        active_tenant_exists(OuterRef("schema_name")), kind=PendingWork.Kind.EVENT, state="pending"
    )
    return pending[:EVENTS_PENDING_CAP].count()
