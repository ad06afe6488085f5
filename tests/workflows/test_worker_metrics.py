"""`manage.py temporal_worker` exposes the Temporal SDK's metrics for Prometheus at TEMPORAL_METRICS_BIND."""

import asyncio
import os
import signal
import socket
import time
import urllib.request
import uuid

import pytest
from django.core.management import CommandError, call_command
from temporalio.client import WorkflowFailureError

from apps.workflows.management.commands.temporal_worker import Command
from apps.workflows.temporal.platform import PingWorkflow
from bizosaas.infra import free_port
from bizosaas.temporal import connect

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(url: str, *, wanted: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(url, timeout=2) as response:
            assert response.status == 200
            body = response.read().decode()
        if wanted in body or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


async def ping_through_worker_command(schema: str, bind: str) -> tuple[dict, str]:
    task_queue = f"test-{uuid.uuid4().hex}"
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # a stray SIGTERM must not end pytest itself
    worker = asyncio.create_task(Command().run(task_queue=task_queue, threads=2, metrics_bind=bind))
    try:
        client = await connect()  # the services' client: its calls are not the worker's metrics
        result = await client.execute_workflow(
            PingWorkflow.run, schema, id=f"ping-{uuid.uuid4().hex}", task_queue=task_queue
        )
        # and one that fails: its activity refuses an unknown schema (the failure series the dashboards chart)
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                PingWorkflow.run, "no_such_schema", id=f"ping-{uuid.uuid4().hex}", task_queue=task_queue
            )
        body = await asyncio.to_thread(scrape, f"http://{bind}/metrics", wanted="temporal_workflow_failed")
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # how an operator stops the worker; the command drains and returns
        await asyncio.wait_for(worker, timeout=30)
        signal.signal(signal.SIGTERM, previous)
    return result, body


def test_the_worker_serves_sdk_metrics_for_prometheus_at_the_configured_address():
    from apps.accounts.services import tenant_create

    tenant_create(name="Initech", slug="initech-metrics")
    bind = f"127.0.0.1:{free_port()}"

    result, body = asyncio.run(ping_through_worker_command("initech_metrics", bind))

    assert result == {"schema": "initech_metrics", "attempt": 1}
    metrics = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and not line.startswith("#")}
    assert "temporal_workflow_completed" in metrics
    assert "temporal_request" in metrics  # the worker's calls to the frontend
    assert "temporal_activity_execution_latency_bucket" in metrics
    # the failure series the System Health dashboard and the alert rules use
    assert {"temporal_workflow_failed", "temporal_activity_execution_failed"} <= metrics
    completed = [line for line in body.splitlines() if line.startswith("temporal_workflow_completed{")]
    assert any('workflow_type="platform.ping"' in line for line in completed), completed


def test_a_metrics_address_already_in_use_stops_the_worker_with_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"

        with pytest.raises(CommandError) as error:
            call_command("temporal_worker", task_queue=f"test-{uuid.uuid4().hex}", metrics_bind=bind)

    assert f"Temporal metrics endpoint at '{bind}'" in str(error.value)
    assert "Address already in use" in str(error.value)
    assert "--metrics-bind or TEMPORAL_METRICS_BIND" in str(error.value)
