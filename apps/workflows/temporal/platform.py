"""Platform workflows. This module is re-imported by the workflow sandbox: it imports temporalio only."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy


@workflow.defn(name="platform.ping")
class PingWorkflow:
    """A round trip worker -> activity -> tenant schema -> back; used by smoke tests and operators."""

    @workflow.run
    async def run(self, schema_name: str) -> dict:
        # the activity is named, not imported, so the sandbox never loads Django
        return await workflow.execute_activity(
            "platform.tenant_ping",
            schema_name,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200)),
        )
