"""An approval nobody decides expires after `approval_timeout_hours`, and the report is not published: on a dev
server of our own with per-workflow time skipping (the hour passes on the workflow's virtual clock)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from apps.workflows.models import WorkflowApproval
from apps.workflows.temporal.worker import build_worker
from bizosaas.infra import Temporal
from tests.workflows.test_templates import Setup

pytestmark = pytest.mark.django_db(transaction=True)


async def run_without_decision(setup: Setup, input: dict, workflow_id: str):
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=Temporal.executable(),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
    )
    async with env:
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(env.client, task_queue=setup.task_queue, executor=executor):
                handle = await env.client.start_workflow(
                    "workflows.connector_report", input, id=workflow_id, task_queue=setup.task_queue
                )
                result = await asyncio.wait_for(handle.result(), timeout=60)
                virtual_now = await env.get_current_time(handle)
                started = (await handle.describe()).start_time
    return result, virtual_now - started


def test_an_undecided_approval_expires_after_its_timeout_and_nothing_is_published(httpserver):
    setup = Setup(httpserver)
    config = setup.report_config(require_approval=True, approval_timeout_hours=1)
    workflow_id = setup.workflow_id(config)

    began = time.monotonic()
    result, virtual_elapsed = asyncio.run(run_without_decision(setup, setup.input(config), workflow_id))

    assert result["outcome"] == "expired" and result["approval"] == "expired"
    assert virtual_elapsed >= timedelta(hours=1)  # the workflow waited its hour ...
    assert time.monotonic() - began < 60  # ... without the test waiting it
    assert setup.wordpress.created == []
    run = setup.run(workflow_id)
    assert (run.status, run.result["outcome"]) == ("completed", "expired")
    assert [(s["name"], s["status"]) for s in run.steps] == [
        ("read_source", "completed"),
        ("analyse", "completed"),
        ("approval", "expired"),
        ("publish", "skipped"),
    ]
    approval = setup.read(lambda: WorkflowApproval.objects.get(run=run))
    assert (approval.status, approval.decided_by_id) == ("expired", None)
