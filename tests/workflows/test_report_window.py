"""A connector report's period: the records read are filtered by date through the provider's API (WordPress posts by
`modified_after` / `modified_before`), so the agent never sees records outside the window; parameters that ask for a
period the resource cannot be filtered by are refused with a field error."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from apps.agents.models import Agent, LLMProvider
from apps.connectors.models import Connection
from apps.workflows.models import WorkflowConfig, WorkflowRun
from apps.workflows.templates import clean_parameters
from apps.workflows.temporal.worker import build_worker
from bizosaas.temporal import connect
from tests.connectors.providers.test_hubspot import PRIVATE_APP_TOKEN
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress, post
from tests.factories import make_tenant
from tests.workflows.test_templates import ANSWER, API_KEY, FakeModel

pytestmark = pytest.mark.django_db(transaction=True)


def day(offset: int, time: str = "12:00:00") -> str:
    return f"{(datetime.now(UTC).date() + timedelta(days=offset)).isoformat()}T{time}"


class Setup:
    def __init__(self, httpserver):
        self.tenant = make_tenant()
        self.schema = self.tenant.schema_name
        self.wordpress = FakeWordPress(httpserver, posts=0)
        self.wordpress.posts = [
            post(1, day(-30)),
            post(2, day(-8, "23:59:00")),  # the evening before the window starts
            post(3, day(-7, "00:30:00")),  # the window's first day
            post(4, day(-2)),
            post(5, day(0, "08:00:00")),  # today
        ]
        self.model = FakeModel(httpserver)
        with schema_context(self.schema):
            self.blog = Connection.objects.create(
                provider="wordpress",
                name="Blog",
                config={"site_url": self.wordpress.site_url, "username": USER},
                credentials={"application_password": APP_PASSWORD},
                status=Connection.Status.ACTIVE,
            )
            self.crm = Connection.objects.create(
                provider="hubspot",
                name="CRM",
                config={"api_base_url": "http://127.0.0.1:9"},
                credentials={"private_app_token": PRIVATE_APP_TOKEN},
                status=Connection.Status.ACTIVE,
            )
            provider = LLMProvider.objects.create(
                name="Compatible",
                kind=LLMProvider.Kind.OPENAI_COMPATIBLE,
                base_url=self.model.base_url,
                default_model="gpt-4o-mini",
                credentials={"api_key": API_KEY},
            )
            self.agent = Agent.objects.create(name="Editor", role="Editor", goal="Review posts", provider=provider)

    def parameters(self, **overrides) -> dict:
        return {
            "source_connection": self.blog.pk,
            "source_resource": "posts",
            "window_days": 7,
            "max_records": 50,
            "agent": self.agent.pk,
            "instructions": "Review last week's posts.",
            "destination_connection": self.blog.pk,
            "destination_action": "create_draft_post",
            "destination_input": {"title": {"path": "title"}, "content": {"path": "output"}},
            **overrides,
        }

    def clean(self, **overrides) -> dict:
        with schema_context(self.schema):
            return clean_parameters("connector_report", self.parameters(**overrides))


@pytest.fixture
def setup(httpserver):
    return Setup(httpserver)


async def run_report(setup: Setup, config: WorkflowConfig) -> tuple[dict, str]:
    task_queue, workflow_id = f"test-{uuid.uuid4().hex}", f"wf-{setup.schema}-{config.pk}-{uuid.uuid4().hex[:12]}"
    payload = {
        "schema": setup.schema,
        "config_id": config.pk,
        "template": "connector_report",
        "params": config.parameters,
        "trigger": "manual",
        "user_id": None,
    }
    client = await connect()
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue=task_queue, executor=executor):
            result = await client.execute_workflow(
                "workflows.connector_report", payload, id=workflow_id, task_queue=task_queue
            )
    return result, workflow_id


def test_the_agent_sees_only_the_records_of_the_report_period(setup):
    with schema_context(setup.schema):
        config = WorkflowConfig.objects.create(
            name="Weekly posts", template="connector_report", parameters=setup.clean(), timezone="UTC"
        )

    result, workflow_id = asyncio.run(run_report(setup, config))

    assert result["outcome"] == "published" and result["records"] == 3
    with schema_context(setup.schema):
        run = WorkflowRun.objects.select_related("agent_run").get(workflow_id=workflow_id)
        given = run.agent_run.input
    assert run.status == "completed"
    assert run.steps[0]["result"]["since"] == day(-7)[:10] and run.steps[0]["result"]["until"] == day(0)[:10]
    assert all(f'"title":"Post {n}"' in given for n in (3, 4, 5))
    assert not any(f'"title":"Post {n}"' in given for n in (1, 2))
    assert f"for the period {day(-7)[:10]} to {day(0)[:10]}" in given
    # the filter went out on the wire: the source read asked WordPress for the window
    reads = [request.args for request, _ in setup.wordpress.server.log if request.method == "GET"]
    assert [(a["modified_after"], a["modified_before"]) for a in reads] == [
        (f"{day(-7)[:10]}T00:00:00Z", f"{day(1)[:10]}T00:00:00Z")  # UTC days, like the posts' updated_at
    ]
    assert setup.wordpress.created == [{"title": f"Weekly posts — {day(0)[:10]}", "content": ANSWER, "status": "draft"}]


def test_window_days_0_reads_without_a_date_filter(setup):
    with schema_context(setup.schema):
        config = WorkflowConfig.objects.create(
            name="All posts", template="connector_report", parameters=setup.clean(window_days=0)
        )

    result, workflow_id = asyncio.run(run_report(setup, config))

    assert result["records"] == 5
    reads = [request.args for request, _ in setup.wordpress.server.log if request.method == "GET"]
    assert reads and not any("modified_after" in a or "modified_before" in a for a in reads)
    with schema_context(setup.schema):
        given = WorkflowRun.objects.select_related("agent_run").get(workflow_id=workflow_id).agent_run.input
    assert '"title":"Post 1"' in given and "not filtered by date" in given


def test_a_period_on_a_resource_that_cannot_be_filtered_by_date_is_refused_on_window_days(setup):
    with pytest.raises(ValidationError) as refused:
        setup.clean(source_connection=setup.crm.pk, source_resource="contacts", window_days=7)

    assert list(refused.value.message_dict) == ["parameters.window_days"]
    assert "cannot filter contacts by date" in refused.value.message_dict["parameters.window_days"][0]
    # without a period the same resource is fine, and a windowed resource takes one
    assert setup.clean(source_connection=setup.crm.pk, source_resource="contacts", window_days=0)["window_days"] == 0
    assert setup.clean(window_days=90)["window_days"] == 90


def test_window_days_out_of_range_is_refused(setup):
    for bad in (-1, 91, "7", True):
        with pytest.raises(ValidationError) as refused:
            setup.clean(window_days=bad)
        assert list(refused.value.message_dict) == ["parameters.window_days"], bad
