"""Long agent runs are executed as the `agent_run` Temporal workflow (durable); when Temporal is unreachable they
fall back to the task queue instead of failing."""

from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from apps.agents.models import Agent, AgentRun, LLMProvider
from apps.workflows import client as wf_client
from apps.workflows.models import WorkflowRun
from tests.workflows.test_configs import Org, terminate

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db):
    return Org()


def long_agent(org: Org, seconds: int) -> Agent:
    with schema_context(org.schema):
        provider = LLMProvider.objects.create(
            name="OpenAI", kind="openai", default_model="gpt-4o-mini", credentials={"api_key": "sk-test"}
        )
        return Agent.objects.create(
            name="Analyst", role="Analyst", goal="Analyse", provider=provider, max_execution_time=seconds
        )


def test_a_long_run_is_handed_to_temporal_and_linked(api, acme, django_capture_on_commit_callbacks, settings):
    settings.AGENT_DURABLE_AFTER_SECONDS = 300
    agent = long_agent(acme, 900)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/agents/{agent.pk}/runs/", {"input": "Analyse last quarter"}, **acme.auth("member")
        )

    assert response.status_code == 202
    with schema_context(acme.schema):
        workflow_run = WorkflowRun.objects.get()
    try:
        assert workflow_run.template == "agent_run" and workflow_run.agent_run_id == response.json()["id"]
        assert workflow_run.parameters["agent_run_id"] == response.json()["id"]
        description = wf_client.run_sync(_describe(workflow_run.workflow_id))
        assert description.workflow_type == "workflows.agent_run"
        listed = api.get("/api/v1/workflows/runs/", **acme.auth("viewer")).json()
        assert [run["workflow_id"] for run in listed["results"]] == [workflow_run.workflow_id]
    finally:
        asyncio.run(terminate(workflow_run.workflow_id))


def test_without_temporal_a_long_run_goes_to_the_task_queue(api, acme, django_capture_on_commit_callbacks, settings):
    settings.AGENT_DURABLE_AFTER_SECONDS = 300
    agent = long_agent(acme, 900)

    with override_settings(TEMPORAL_ADDRESS="127.0.0.1:1"), django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Analyse"}, **acme.auth("member"))

    assert response.status_code == 202
    with schema_context(acme.schema):
        assert not WorkflowRun.objects.exists()
        assert AgentRun.objects.get().status == AgentRun.Status.QUEUED  # queued on Celery, not failed


async def _describe(workflow_id: str):
    from bizosaas.temporal import connect

    client = await connect()
    return await client.get_workflow_handle(workflow_id).describe()
