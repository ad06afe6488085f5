"""Platform workflows. This module is re-imported by the workflow sandbox: it imports temporalio only."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200))


@workflow.defn(name="platform.ping")
class PingWorkflow:
    """A round trip worker -> activity -> tenant schema -> back; used by smoke tests and operators."""

    @workflow.run
    async def run(self, schema_name: str) -> dict:
        # the activity is named, not imported, so the sandbox never loads Django
        return await workflow.execute_activity(
            "platform.tenant_ping", schema_name, start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
        )


@workflow.defn(name="platform.connection_health")
class ConnectionHealthWorkflow:
    """The scheduled health sweep: every active tenant's connections are tested, one activity per tenant."""

    @workflow.run
    async def run(self) -> dict:
        schemas = await workflow.execute_activity(
            "platform.active_tenant_schemas", start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRY
        )
        totals = {"tenants": len(schemas), "checked": 0, "failing": 0}
        for schema_name in schemas:
            result = await workflow.execute_activity(
                "connectors.check_tenant_connections",
                schema_name,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RETRY,
            )
            totals["checked"] += result["checked"]
            totals["failing"] += result["failing"]
        return totals
