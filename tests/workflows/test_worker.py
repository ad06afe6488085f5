"""The Temporal worker against the real dev server: a workflow -> activity -> tenant schema round trip."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import WorkflowFailureError

from apps.workflows.temporal.platform import PingWorkflow
from apps.workflows.temporal.worker import build_worker
from bizosaas.temporal import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def run_ping(schema_name: str) -> dict:
    client = await connect()
    task_queue = f"test-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with build_worker(client, task_queue=task_queue, executor=executor):
            return await client.execute_workflow(
                PingWorkflow.run, schema_name, id=f"ping-{uuid.uuid4().hex}", task_queue=task_queue
            )


def test_ping_workflow_runs_its_activity_inside_the_named_schema():
    from apps.accounts.services import tenant_create

    tenant_create(name="Initech", slug="initech")

    result = asyncio.run(run_ping("initech"))

    assert result == {"schema": "initech", "attempt": 1}


def test_ping_workflow_for_an_unknown_schema_fails_without_retrying():
    with pytest.raises(WorkflowFailureError) as failure:
        asyncio.run(run_ping("no_such_tenant"))

    cause = failure.value.cause.cause
    assert "unknown tenant schema 'no_such_tenant'" in str(cause)
