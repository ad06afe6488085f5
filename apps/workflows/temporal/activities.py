"""Activities: adapters that take the tenant schema explicitly and run inside it."""

from __future__ import annotations

from django.db import close_old_connections, connection
from django_tenants.utils import schema_context, schema_exists
from temporalio import activity
from temporalio.exceptions import ApplicationError

from apps.accounts.models import Tenant, tenant_is_suspended
from apps.accounts.services import active_tenant_page
from apps.connectors.channels import notification_channels_renew
from apps.connectors.services import connections_check_all


def _tenant_scope(schema_name: str, *, bookkeeping: bool = False):
    """Every tenant activity enters its schema here: an unknown or suspended tenant's work ends, not retried (a
    run started before the suspension, or by a schedule that fired before it was paused, does nothing more).
    `bookkeeping` activities, which only write the run's own record (its steps, its final status), still run, so
    that a run cut off by a suspension ends as failed with the reason instead of staying "running"."""
    close_old_connections()
    if not schema_exists(schema_name):
        raise ApplicationError(f"unknown tenant schema {schema_name!r}", non_retryable=True)
    if not bookkeeping and tenant_is_suspended(schema_name):
        raise ApplicationError("the tenant is suspended", type="TenantSuspended", non_retryable=True)
    return schema_context(schema_name)


@activity.defn(name="platform.tenant_ping")
def tenant_ping(schema_name: str) -> dict:
    try:
        with _tenant_scope(schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            current = cursor.fetchone()[0]
        return {"schema": current, "attempt": activity.info().attempt}
    finally:
        connection.close()  # activity threads come and go; never leave their connections behind


@activity.defn(name="platform.active_tenant_schemas")
def active_tenant_schemas(after: str = "", limit: int = 100) -> dict:
    """One page of active tenant schemas after `after` (name order), and how many remain after it."""
    try:
        close_old_connections()
        schemas, remaining = active_tenant_page(after=after, limit=limit)
        return {"schemas": schemas, "remaining": remaining}
    finally:
        connection.close()


@activity.defn(name="connectors.check_tenant_connections")
def check_tenant_connections(schema_name: str) -> dict:
    """The tenant's scheduled health check, which also renews its expiring notification channels (see
    apps.connectors.channels for why here)."""
    try:
        tenant = Tenant.objects.get(schema_name=schema_name)
        with _tenant_scope(schema_name):
            checks = connections_check_all(tenant=tenant, trigger="scheduled")
            channels = notification_channels_renew(tenant=tenant)
        return {
            "checked": len(checks),
            "failing": sum(1 for check in checks if not check.ok),
            "channels_renewed": channels["renewed"],
            "channels_failed": channels["failed"],
        }
    finally:
        connection.close()
