"""Builds the Temporal worker: every workflow template and activity the platform has."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from apps.workflows.temporal.activities import tenant_ping
from apps.workflows.temporal.platform import PingWorkflow

WORKFLOWS = [PingWorkflow]
ACTIVITIES = [tenant_ping]


def build_worker(client: Client, *, task_queue: str, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
    )
