"""Builds the Temporal worker (every workflow template and activity) and ensures the platform's schedules."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.worker import Worker

from apps.workflows.temporal.activities import active_tenant_schemas, check_tenant_connections, tenant_ping
from apps.workflows.temporal.interceptors import TenantWorkerInterceptor
from apps.workflows.temporal.platform import ConnectionHealthWorkflow, PingWorkflow
from apps.workflows.temporal.template_activities import ACTIVITIES as TEMPLATE_ACTIVITIES
from apps.workflows.temporal.template_workflows import (
    AgentRunWorkflow,
    ConnectionSyncWorkflow,
    ConnectorReportWorkflow,
    RuleActionsWorkflow,
)

WORKFLOWS = [
    PingWorkflow,
    ConnectionHealthWorkflow,
    ConnectorReportWorkflow,
    AgentRunWorkflow,
    ConnectionSyncWorkflow,
    RuleActionsWorkflow,
]
ACTIVITIES: list[Callable[..., Any]] = [
    tenant_ping,
    active_tenant_schemas,
    check_tenant_connections,
    *TEMPLATE_ACTIVITIES,
]
HEALTH_SCHEDULE_ID = "platform-connection-health"


def build_worker(client: Client, *, task_queue: str, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        interceptors=[TenantWorkerInterceptor()],  # checks each activity's tenant against its header
    )


async def ensure_platform_schedules(client: Client, *, task_queue: str) -> None:
    """Creates (or updates to the configured interval) the periodic connection health sweep. Idempotent."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ConnectionHealthWorkflow.run,
            {"spread_seconds": settings.CONNECTION_HEALTH_MINUTES * 60 * 0.8},  # pages spread over most of it
            id="platform-connection-health-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.CONNECTION_HEALTH_MINUTES))]
        ),
    )
    try:
        await client.create_schedule(HEALTH_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(HEALTH_SCHEDULE_ID)
        await handle.update(lambda _input: ScheduleUpdate(schedule=schedule))
