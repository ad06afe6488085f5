"""The tenant header: a run started through our client carries its tenant schema to every activity, schedules carry
it in their action, and an activity whose input names another tenant than its header is refused before it runs."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django_tenants.utils import schema_context
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    WorkflowFailureError,
)
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from apps.workflows.models import WorkflowRun
from apps.workflows.temporal.interceptors import HEADER, TenantWorkerInterceptor, current_schema, decode, encode
from apps.workflows.temporal.worker import build_worker
from bizosaas.temporal import connect
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@activity.defn(name="test.seen_schema")
def seen_schema(payload: dict) -> dict:
    from bizosaas.observability import tenant_var

    return {"header": current_schema(), "input": payload["schema"], "log_tenant": tenant_var.get()}


@workflow.defn(name="test.tenant_echo", sandboxed=False)  # a test module imports Django; ours are sandboxed
class TenantEcho:
    @workflow.run
    async def run(self, input: dict) -> dict:
        return await workflow.execute_activity(
            "test.seen_schema",
            {"schema": input["schema"]},
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


class _Forging(OutboundInterceptor):
    async def start_workflow(self, input):
        input.headers = {**input.headers, HEADER: encode("someone_else")}
        return await super().start_workflow(input)


class Forging(Interceptor):
    """A caller that claims another tenant in the header than its input names."""

    def intercept_client(self, next):
        return _Forging(next)


def echo_worker(client: Client, task_queue: str, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TenantEcho],
        activities=[seen_schema],
        activity_executor=executor,
        interceptors=[TenantWorkerInterceptor()],
    )


def test_a_runs_activities_see_the_tenant_header_of_its_start():
    task_queue = f"test-{uuid.uuid4().hex}"

    async def scenario():
        client = await connect()
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with echo_worker(client, task_queue, executor):
                handle = await client.start_workflow(
                    "test.tenant_echo", {"schema": "tenant_acme"}, id=f"wf-{uuid.uuid4().hex}", task_queue=task_queue
                )
                result = await handle.result()
                history = await handle.fetch_history()
        return result, history

    result, history = asyncio.run(scenario())

    # the worker's log lines of that activity name the tenant too
    assert result == {"header": "tenant_acme", "input": "tenant_acme", "log_tenant": "tenant_acme"}
    started = history.events[0].workflow_execution_started_event_attributes
    assert decode(started.header.fields) == "tenant_acme"


def test_an_activity_for_another_tenant_than_its_header_is_refused_before_it_touches_the_database():
    tenant = make_tenant()
    task_queue = f"test-{uuid.uuid4().hex}"
    payload = {
        "schema": tenant.schema_name,
        "config_id": None,
        "template": "agent_run",
        "params": {"agent": 1, "input": "Hello"},
        "trigger": "api",
        "user_id": None,
    }
    workflow_id = f"wf-{tenant.schema_name}-adhoc-{uuid.uuid4().hex[:12]}"

    async def scenario():
        worker_client = await connect()
        forger = await Client.connect(
            settings.TEMPORAL_ADDRESS, namespace=settings.TEMPORAL_NAMESPACE, interceptors=[Forging()]
        )
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with build_worker(worker_client, task_queue=task_queue, executor=executor):
                with pytest.raises(WorkflowFailureError) as failed:
                    await forger.execute_workflow(
                        "workflows.agent_run",
                        payload,
                        id=workflow_id,
                        task_queue=task_queue,
                        execution_timeout=timedelta(seconds=30),
                    )
        return failed.value

    failure = asyncio.run(scenario())

    refused = failure.cause.cause  # the workflow failed because its first activity was refused
    assert (refused.type, refused.non_retryable) == ("TenantMismatch", True)
    assert "someone_else" in refused.message
    with schema_context(tenant.schema_name):
        assert not WorkflowRun.objects.filter(workflow_id=workflow_id).exists()  # start_record never ran


def test_a_schedule_created_through_our_client_carries_the_header_to_its_runs():
    task_queue = f"test-{uuid.uuid4().hex}"
    schedule_id = f"wf-tenant_sched-{uuid.uuid4().hex[:8]}"

    async def scenario():
        client = await connect()
        action = ScheduleActionStartWorkflow(
            "test.tenant_echo", {"schema": "tenant_sched"}, id=f"{schedule_id}-run", task_queue=task_queue
        )
        handle = await client.create_schedule(schedule_id, Schedule(action=action, spec=ScheduleSpec()))
        try:
            described = await handle.describe()
            with ThreadPoolExecutor(max_workers=2) as executor:
                async with echo_worker(client, task_queue, executor):
                    await handle.trigger()
                    for _ in range(100):
                        recent = (await handle.describe()).info.recent_actions
                        if recent:
                            break
                        await asyncio.sleep(0.1)
                    started = recent[0].action
                    run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
                    result = await run.result()
        finally:
            await handle.delete()
        return described, result

    described, result = asyncio.run(scenario())

    assert decode(described.schedule.action.headers) == "tenant_sched"
    assert result == {"header": "tenant_sched", "input": "tenant_sched", "log_tenant": "tenant_sched"}
