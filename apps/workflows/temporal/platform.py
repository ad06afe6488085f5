"""Platform workflows. This module is re-imported by the workflow sandbox: it imports temporalio only."""

from __future__ import annotations

import asyncio
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


HEALTH_PAGE = 50  # tenants checked together, and per run of the workflow


@workflow.defn(name="platform.connection_health")
class ConnectionHealthWorkflow:
    """The scheduled health sweep: active tenants' connections are tested a page of tenants at a time (one
    activity per tenant, a page's activities together). Each page continues as a new run carrying the totals, so
    no history ever holds every tenant, and the pages are spread evenly over `spread_seconds` (the schedule sets
    most of its interval) instead of testing every connection of the platform in one burst."""

    @workflow.run
    async def run(self, progress: dict | None = None) -> dict:
        progress = {"after": "", "tenants": 0, "checked": 0, "failing": 0, "spread_seconds": 0, **(progress or {})}
        progress.setdefault("started", workflow.now().timestamp())
        page_size = progress.get("page", HEALTH_PAGE)
        page = await workflow.execute_activity(
            "platform.active_tenant_schemas",
            args=[progress["after"], page_size],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "connectors.check_tenant_connections",
                    schema_name,
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=RETRY,
                )
                for schema_name in page["schemas"]
            )
        )
        progress["tenants"] += len(page["schemas"])
        progress["checked"] += sum(result["checked"] for result in results)
        progress["failing"] += sum(result["failing"] for result in results)
        if not page["remaining"]:
            return {key: progress[key] for key in ("tenants", "checked", "failing")}
        progress["after"] = page["schemas"][-1]
        pages_left = -(-page["remaining"] // page_size)
        left = progress["started"] + progress["spread_seconds"] - workflow.now().timestamp()
        if left > 0:
            await asyncio.sleep(left / (pages_left + 1))  # a durable timer
        workflow.continue_as_new(progress)
