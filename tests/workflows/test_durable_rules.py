"""A durable rule's actions run as the `rule_actions` Temporal workflow: in order, each once, mirrored as a
workflow run; without Temporal the task queue runs them instead."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from apps.integrations import dispatch, queueing
from apps.integrations.models import ActionRun, Delivery, Event, RuleRun
from apps.workflows.models import WorkflowRun
from apps.workflows.temporal.worker import build_worker
from bizosaas.temporal import connect
from tests.workflows.test_configs import Org

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    return Org()


def durable_rule(api, org, url: str) -> None:
    subscription = api.post(
        "/api/v1/webhooks/subscriptions/", {"url": url, "event_types": ["crm.deal.won"]}, **org.auth()
    ).json()
    response = api.post(
        "/api/v1/rules/",
        {
            "name": "Announce big deals",
            "trigger_event": "crm.deal.won",
            "durable": True,
            "conditions": [{"field": "payload.amount", "op": "gte", "value": 500}],
            "actions": [{"type": "send_to_subscription", "subscription": subscription["id"]}],
        },
        **org.auth(),
    )
    assert response.status_code == 201 and response.json()["durable"] is True, response.content


async def finish(workflow_id: str, task_queue: str) -> dict:
    client = await connect()
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue=task_queue, executor=executor):
            return await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 60)


def test_a_durable_rule_runs_its_actions_in_a_workflow_once(api, acme, httpserver):
    queue = f"test-{uuid.uuid4().hex}"
    durable_rule(api, acme, httpserver.url_for("/hook"))
    api.post("/api/v1/events/", {"type": "crm.deal.won", "payload": {"amount": 900}}, **acme.auth("member"))

    with override_settings(TEMPORAL_TASK_QUEUE=queue), schema_context(acme.schema):
        dispatch.event_process(Event.objects.get().pk)
        rule_run = RuleRun.objects.get()
    assert rule_run.workflow_id

    result = asyncio.run(finish(rule_run.workflow_id, queue))

    assert result == {"outcome": "succeeded", "rule_run_id": rule_run.pk}
    with schema_context(acme.schema):
        rule_run.refresh_from_db()
        action = ActionRun.objects.get()
        workflow_run = WorkflowRun.objects.get(workflow_id=rule_run.workflow_id)
        assert rule_run.status == RuleRun.Status.SUCCEEDED
        assert action.status == ActionRun.Status.SUCCEEDED and action.attempts == 1
        assert Delivery.objects.count() == 1  # the action's effect, once
        assert workflow_run.template == "rule_actions" and workflow_run.status == "completed"
        # the sweeper leaves a durable rule's actions to its workflow
        assert dispatch.schema_sweep()["actions"] == 0
    runs = api.get("/api/v1/rules/runs/", **acme.auth("viewer")).json()["results"]
    assert runs[0]["workflow_id"] == rule_run.workflow_id


def test_without_temporal_a_durable_rule_falls_back_to_the_task_queue(api, acme, httpserver):
    durable_rule(api, acme, httpserver.url_for("/hook"))
    # the event is not queued, so that this test fans it out itself (a Celery worker of the session, the portal
    # tests', would otherwise take it, with Temporal reachable)
    queueing._broker_down_until = time.monotonic() + 60
    try:
        api.post("/api/v1/events/", {"type": "crm.deal.won", "payload": {"amount": 900}}, **acme.auth("member"))
    finally:
        queueing.broker_pause_reset()

    with override_settings(TEMPORAL_ADDRESS="127.0.0.1:1"), schema_context(acme.schema):
        dispatch.event_process(Event.objects.get().pk)
        rule_run = RuleRun.objects.get()
        action = ActionRun.objects.get()
        assert rule_run.workflow_id == "" and not WorkflowRun.objects.exists()
        assert action.enqueued_at is not None  # handed to Celery instead
        dispatch.action_run_perform(action.pk)  # or a worker of the session (the portal tests') claimed it first
        ends = time.monotonic() + 20
        while action.status in (ActionRun.Status.PENDING, ActionRun.Status.RUNNING) and time.monotonic() < ends:
            time.sleep(0.05)
            action.refresh_from_db()
        assert action.status == ActionRun.Status.SUCCEEDED
