"""The template workflows against the real Temporal dev server, a unique task queue per test: a connector report
from HubSpot through an agent (an OpenAI-compatible loopback model) to a WordPress draft, with and without approval,
through provider failures and a worker restart; replay of finished histories; connection sync events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from temporalio.worker import Replayer
from werkzeug import Response

from apps.agents.models import Agent, AgentRun, LLMProvider
from apps.connectors.models import Connection
from apps.integrations.models import Event
from apps.workflows.models import SyncRecord, WorkflowApproval, WorkflowConfig, WorkflowRun
from apps.workflows.temporal.template_workflows import AgentRunWorkflow, ConnectionSyncWorkflow, ConnectorReportWorkflow
from apps.workflows.temporal.worker import build_worker
from bizosaas.temporal import connect
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN, FakeHubSpot
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.factories import make_member, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "25 new contacts this week; Company 1 leads with the most sign-ups."
API_KEY = "sk-compatible-key"


class FakeModel:
    """An OpenAI-compatible `POST /v1/chat/completions` answering every call with a final answer (CrewAI's ReAct)."""

    def __init__(self, httpserver):
        self.prompts: list[str] = []
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self.complete)
        self.base_url = httpserver.url_for("/v1")

    def complete(self, request):
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return Response(json.dumps({"error": {"message": "Incorrect API key provided."}}), status=401)
        self.prompts.append(request.get_json()["messages"][-1]["content"])
        content = f"Thought: I now know the final answer\nFinal Answer: {ANSWER}"
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320},
        }
        return Response(json.dumps(answer), content_type="application/json")


class FlakyWordPress(FakeWordPress):
    """WordPress whose first `failures` post creations answer 503 (the HTTP client does not repeat a POST)."""

    failures = 0

    def create(self, request):
        if self.failures:
            self.failures -= 1
            body = {"code": "service_unavailable", "message": "Down for maintenance", "data": {"status": 503}}
            return Response(json.dumps(body), status=503, content_type="application/json")
        return super().create(request)


class Setup:
    def __init__(self, httpserver, *, contacts: int = 25):
        self.tenant = make_tenant()
        self.schema = self.tenant.schema_name
        self.admin = make_member(self.tenant, "admin")
        self.hubspot = FakeHubSpot(httpserver, contacts=contacts)
        self.wordpress = FlakyWordPress(httpserver)
        self.model = FakeModel(httpserver)
        self.task_queue = f"test-{uuid.uuid4().hex}"
        with schema_context(self.schema):
            self.crm = Connection.objects.create(
                provider="hubspot",
                name="HubSpot",
                config={"api_base_url": self.hubspot.base_url},
                credentials={"private_app_token": PRIVATE_APP_TOKEN},
                status=Connection.Status.ACTIVE,
            )
            self.blog = Connection.objects.create(
                provider="wordpress",
                name="Blog",
                config={"site_url": self.wordpress.site_url, "username": USER},
                credentials={"application_password": APP_PASSWORD},
                status=Connection.Status.ACTIVE,
            )
            provider = LLMProvider.objects.create(
                name="Compatible",
                kind=LLMProvider.Kind.OPENAI_COMPATIBLE,
                base_url=self.model.base_url,
                default_model="gpt-4o-mini",
                credentials={"api_key": API_KEY},
            )
            self.agent = Agent.objects.create(
                name="Analyst", role="Marketing analyst", goal="Explain the numbers", provider=provider
            )

    def report_config(self, **overrides) -> WorkflowConfig:
        parameters = {
            "source_connection": self.crm.pk,
            "source_resource": "contacts",
            "window_days": 7,
            "max_records": 30,
            "agent": self.agent.pk,
            "instructions": "Summarise this week's new contacts.",
            "destination_connection": self.blog.pk,
            "destination_action": "create_draft_post",
            "destination_input": {"title": {"path": "title"}, "content": {"path": "output"}},
            "require_approval": False,
            "approval_timeout_hours": 48,
            **overrides,
        }
        with schema_context(self.schema):
            return WorkflowConfig.objects.create(
                name="Weekly contacts", template="connector_report", parameters=parameters
            )

    def sync_config(self) -> WorkflowConfig:
        parameters = {"connection": self.crm.pk, "resource": "contacts", "page_size": 2, "max_pages": 50}
        with schema_context(self.schema):
            return WorkflowConfig.objects.create(
                name="Contacts sync", template="connection_sync", parameters=parameters
            )

    def input(self, config: WorkflowConfig) -> dict:
        return {
            "schema": self.schema,
            "config_id": config.pk,
            "template": config.template,
            "params": config.parameters,
            "trigger": "manual",
            "user_id": self.admin.pk,
        }

    def workflow_id(self, config: WorkflowConfig) -> str:
        return f"wf-{self.schema}-{config.pk}-{uuid.uuid4().hex[:12]}"

    def read(self, fn):
        with schema_context(self.schema):
            return fn()

    async def aread(self, fn):
        def in_thread():
            try:
                return self.read(fn)
            finally:
                connection.close()

        return await asyncio.to_thread(in_thread)

    def run(self, workflow_id: str) -> WorkflowRun:
        return self.read(lambda: WorkflowRun.objects.select_related("agent_run").get(workflow_id=workflow_id))


@pytest.fixture
def setup(httpserver):
    return Setup(httpserver)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def wait_for_state(handle, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = await handle.query("status")
        if status["status"] == state:
            return status
        assert time.monotonic() < deadline, f"still {status} after {timeout} s"
        await asyncio.sleep(0.2)


async def run_to_end(setup: Setup, template: str, input: dict, workflow_id: str):
    client = await connect()
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue=setup.task_queue, executor=executor):
            result = await client.execute_workflow(
                f"workflows.{template}", input, id=workflow_id, task_queue=setup.task_queue
            )
    return result, client


async def run_with_decision(setup: Setup, input: dict, workflow_id: str, decision: dict):
    client = await connect()
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue=setup.task_queue, executor=executor):
            handle = await client.start_workflow(
                "workflows.connector_report", input, id=workflow_id, task_queue=setup.task_queue
            )
            status = await wait_for_state(handle, "waiting_approval")
            pending = await setup.aread(
                lambda: list(WorkflowApproval.objects.filter(run__workflow_id=workflow_id).values("status", "preview"))
            )
            mirrored = await setup.aread(lambda: WorkflowRun.objects.get(workflow_id=workflow_id).status)
            await handle.signal("decide", decision)
            result = await handle.result()
    return status, pending, mirrored, result, handle


# --- connector_report -----------------------------------------------------------------------------------------


def test_a_connector_report_reads_analyses_and_publishes_a_draft_once(setup):
    config = setup.report_config()
    workflow_id = setup.workflow_id(config)

    result, _client = asyncio.run(run_to_end(setup, "connector_report", setup.input(config), workflow_id))

    assert result["outcome"] == "published" and result["records"] == 25
    assert setup.wordpress.created == [{"title": f"Weekly contacts — {today()}", "content": ANSWER, "status": "draft"}]
    run = setup.run(workflow_id)
    assert (run.status, run.error, run.trigger, run.config_id) == ("completed", "", "manual", config.pk)
    assert run.finished_at is not None
    assert [(s["name"], s["status"]) for s in run.steps] == [
        ("read_source", "completed"),
        ("analyse", "completed"),
        ("publish", "completed"),
    ]
    assert run.steps[0]["result"]["records"] == 25
    assert run.result["publish"]["id"] == "1000" and run.result["publish"]["action"] == "create_draft_post"
    assert (run.agent_run.status, run.agent_run.source, run.agent_run.output) == ("succeeded", "workflow", ANSWER)
    assert result["agent_run_id"] == run.agent_run_id
    # the agent saw the instructions and the records, not more than its input allows
    assert "Summarise this week's new contacts." in run.agent_run.input
    assert "person25@example.com" in run.agent_run.input
    assert setup.read(lambda: AgentRun.objects.count()) == 1


def test_with_approval_the_run_waits_then_publishes_once_approved(setup):
    config = setup.report_config(require_approval=True)
    workflow_id = setup.workflow_id(config)
    decision = {"approved": True, "user_id": setup.admin.pk, "comment": "Looks good"}

    status, pending, mirrored, result, _ = asyncio.run(
        run_with_decision(setup, setup.input(config), workflow_id, decision)
    )

    assert status["step"] == "approval" and mirrored == "waiting_approval"
    assert pending == [
        {
            "status": "pending",
            "preview": {
                "action": "create_draft_post",
                "input": {"title": f"Weekly contacts — {today()}", "content": ANSWER},
            },
        }
    ]
    assert result["outcome"] == "published" and result["approval"] == "approved"
    assert len(setup.wordpress.created) == 1
    run = setup.run(workflow_id)
    assert run.status == "completed"
    assert [(s["name"], s["status"]) for s in run.steps] == [
        ("read_source", "completed"),
        ("analyse", "completed"),
        ("approval", "completed"),
        ("publish", "completed"),
    ]
    approval = setup.read(lambda: WorkflowApproval.objects.get(run=run))
    assert (approval.status, approval.decided_by_id, approval.comment) == ("approved", setup.admin.pk, "Looks good")
    assert approval.decided_at is not None


def test_a_rejected_report_is_not_published(setup):
    config = setup.report_config(require_approval=True)
    workflow_id = setup.workflow_id(config)
    decision = {"approved": False, "user_id": setup.admin.pk, "comment": "Wrong tone"}

    _status, _pending, _mirrored, result, _ = asyncio.run(
        run_with_decision(setup, setup.input(config), workflow_id, decision)
    )

    assert result["outcome"] == "rejected"
    assert setup.wordpress.created == []
    run = setup.run(workflow_id)
    assert (run.status, run.result["outcome"]) == ("completed", "rejected")
    assert "publish" not in run.result
    assert [(s["name"], s["status"]) for s in run.steps][-2:] == [("approval", "rejected"), ("publish", "skipped")]
    approval = setup.read(lambda: WorkflowApproval.objects.get(run=run))
    assert (approval.status, approval.decided_by_id, approval.comment) == ("rejected", setup.admin.pk, "Wrong tone")


def test_a_publish_failing_twice_succeeds_on_the_activity_retry(setup):
    setup.wordpress.failures = 2
    config = setup.report_config()
    workflow_id = setup.workflow_id(config)

    result, _client = asyncio.run(run_to_end(setup, "connector_report", setup.input(config), workflow_id))

    assert result["outcome"] == "published"
    posts = [r for r, _ in setup.wordpress.server.log if r.path == "/wp-json/wp/v2/posts" and r.method == "POST"]
    assert len(posts) == 3  # 503, 503, 201
    assert len(setup.wordpress.created) == 1
    run = setup.run(workflow_id)
    assert (run.status, run.steps[-1]["name"], run.steps[-1]["status"]) == ("completed", "publish", "completed")


def test_a_run_survives_its_worker_stopping_while_it_waits_for_approval(setup):
    config = setup.report_config(require_approval=True)
    workflow_id = setup.workflow_id(config)

    async def scenario():
        client = await connect()
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(client, task_queue=setup.task_queue, executor=executor):
                handle = await client.start_workflow(
                    "workflows.connector_report", setup.input(config), id=workflow_id, task_queue=setup.task_queue
                )
                await wait_for_state(handle, "waiting_approval")
        # no worker polls the queue now; the decision waits in the history for the next one
        await handle.signal("decide", {"approved": True, "user_id": setup.admin.pk, "comment": ""})
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(client, task_queue=setup.task_queue, executor=executor):
                return await handle.result()

    result = asyncio.run(scenario())

    assert result["outcome"] == "published"
    assert len(setup.wordpress.created) == 1
    assert len(setup.model.prompts) == 1  # the agent ran once
    run = setup.run(workflow_id)
    assert run.status == "completed" and run.result["publish"]["id"] == "1000"


def test_finished_histories_replay_with_the_same_workflow_code(setup):
    config = setup.report_config(require_approval=True)
    decision = {"approved": True, "user_id": setup.admin.pk, "comment": ""}

    async def scenario():
        *_, handle = await run_with_decision(setup, setup.input(config), setup.workflow_id(config), decision)
        history = await handle.fetch_history()
        replayer = Replayer(workflows=[ConnectorReportWorkflow, AgentRunWorkflow, ConnectionSyncWorkflow])
        return await replayer.replay_workflow(history, raise_on_replay_failure=False)

    replayed = asyncio.run(scenario())

    assert replayed.replay_failure is None


# --- connection_sync ------------------------------------------------------------------------------------------


def test_a_connection_sync_emits_created_then_only_what_changed(httpserver):
    setup = Setup(httpserver, contacts=5)
    config = setup.sync_config()

    first, _ = asyncio.run(run_to_end(setup, "connection_sync", setup.input(config), setup.workflow_id(config)))

    assert first == {
        "pages": 3,
        "records": 5,
        "created": 5,
        "updated": 0,
        "outcome": "synced",
        "resume_cursor": None,
    }
    events = setup.read(lambda: list(Event.objects.order_by("id").values_list("type", "payload")))
    assert [t for t, _ in events] == ["hubspot.contacts.created"] * 5
    assert [p["record_id"] for _, p in events] == ["1001", "1002", "1003", "1004", "1005"]
    assert events[0][1]["record"]["email"] == "person1@example.com"
    stored = setup.read(lambda: list(SyncRecord.objects.order_by("record_id").values_list("record_id", "digest")))
    assert [r for r, _ in stored] == ["1001", "1002", "1003", "1004", "1005"]
    assert all(len(digest) == 64 for _, digest in stored)  # a digest, not the data

    setup.hubspot.objects["contacts"][1]["properties"]["firstname"] = "Renamed"
    second_id = setup.workflow_id(config)
    second, _ = asyncio.run(run_to_end(setup, "connection_sync", setup.input(config), second_id))

    assert (second["created"], second["updated"], second["records"]) == (0, 1, 5)
    events = setup.read(lambda: list(Event.objects.order_by("id").values_list("type", "payload")))
    assert len(events) == 6
    kind, payload = events[-1]
    assert (kind, payload["record_id"], payload["record"]["first_name"]) == (
        "hubspot.contacts.updated",
        "1002",
        "Renamed",
    )
    run = setup.run(second_id)
    assert run.status == "completed" and run.steps[-1]["name"] == "sync" and run.steps[-1]["status"] == "completed"
