"""The workflows page in a real browser against the real gateway and Temporal dev server: an admin builds a
connector report (WordPress posts -> an agent on a scripted OpenAI-compatible model -> a WordPress draft) with a
weekend schedule in Berlin time, sees its next runs and a parameter error next to its field, pauses it, runs it now
with a worker on a unique task queue and approves the draft; a viewer sees the same workflow read-only."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.workflows.models import WorkflowConfig, WorkflowRun
from tests.connectors.providers.test_wordpress import APP_PASSWORD, USER, FakeWordPress
from tests.factories import PASSWORD, make_member
from tests.portal.conftest import login, register, unique_slug
from tests.workflows.test_templates import ANSWER, API_KEY, FakeModel

pytestmark = pytest.mark.django_db(transaction=True)

BERLIN = ZoneInfo("Europe/Berlin")


def seed(client, person: dict, httpserver) -> dict:
    """A WordPress connection (read and published to) and an agent on the scripted model, through the API."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {person['access']}"}
    wordpress = FakeWordPress(httpserver, posts=5)
    model = FakeModel(httpserver)

    def post(path: str, body: dict) -> dict:
        response = client.post(path, body, content_type="application/json", **headers)
        assert response.status_code == 201, response.content
        return response.json()

    blog = post(
        "/api/v1/connections/",
        {
            "provider": "wordpress",
            "name": "Blog",
            "config": {"site_url": wordpress.site_url, "username": USER, "application_password": APP_PASSWORD},
        },
    )
    provider = post(
        "/api/v1/llm-providers/",
        {
            "name": "Scripted",
            "kind": "openai_compatible",
            "base_url": model.base_url,
            "default_model": "gpt-4o-mini",
            "api_key": API_KEY,
        },
    )
    agent = post(
        "/api/v1/agents/",
        {"name": "Analyst", "role": "Content analyst", "goal": "Summarise the posts", "provider": provider["id"]},
    )
    return {"wordpress": wordpress, "model": model, "blog": blog, "agent": agent, "headers": headers}


class Worker:
    """The Temporal worker (all workflows and activities) in a thread of its own, on this test's task queue."""

    def __init__(self, task_queue: str):
        self.task_queue, self.stop, self.ready = task_queue, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True)

    async def main(self):
        from apps.workflows.temporal.worker import build_worker
        from bizosaas.temporal import connect

        client = await connect()
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(client, task_queue=self.task_queue, executor=executor):
                self.ready.set()
                while not self.stop.is_set():
                    await asyncio.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "the worker did not start"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


def in_schema(slug: str, fn):
    with schema_context(Tenant.objects.get(slug=slug).schema_name):
        return fn()


def test_admin_builds_a_weekend_report_sees_next_runs_pauses_runs_and_approves(page, client, httpserver, settings):
    settings.TEMPORAL_TASK_QUEUE = f"portal-{uuid.uuid4().hex}"  # the gateway's starts go to this test's worker
    person = register(client, email=f"admin@{unique_slug('wf')}.example")
    data = seed(client, person, httpserver)
    login(page, email=person["email"], password=person["password"])

    page.goto("/dashboard/workflows")
    page.get_by_role("heading", name="No workflows yet").wait_for()
    page.get_by_role("heading", name="Connector report").wait_for()
    page.steps.shot("empty workflows with templates")
    page.get_by_role("link", name="New workflow from Connector report").click()
    page.wait_for_url("**/dashboard/workflows/new?template=connector_report")

    # the form generated from the template's parameters, fed by the tenant's connections and agents
    page.get_by_label("Name").fill("Weekly blog report")
    page.get_by_label("Source connection").select_option(label="Blog (WordPress)")
    page.get_by_label("Resource to read").select_option("posts")
    page.get_by_label("Report period (days)").fill("120")  # over the template's maximum of 90
    page.get_by_label("Analysing agent").select_option(label="Analyst — Content analyst")
    page.get_by_label("Instructions for the agent").fill("Summarise this week's posts.")
    page.get_by_label("Destination connection").select_option(label="Blog (WordPress)")
    page.get_by_label("Publishing action").select_option("create_draft_post")
    page.get_by_label("Title", exact=True).select_option(label="A generated title")
    page.get_by_label("Content", exact=True).select_option(label="The agent's text")
    page.get_by_label("Ask for approval before publishing").check()

    # a weekend schedule in Berlin time
    page.get_by_label("On a schedule").check()
    page.get_by_label("Repeat").select_option(label="Weekends at 09:00")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    assert page.get_by_test_id("schedule-words").inner_text().startswith("Weekends at 09:00 (Europe/Berlin)")
    page.steps.shot("new workflow form")
    page.get_by_role("button", name="Create workflow").click()

    period_error = page.locator(".field-invalid", has=page.get_by_label("Report period (days)")).locator(".field-error")
    period_error.wait_for()
    assert period_error.inner_text() == "Between 0 and 90."
    page.steps.shot("parameter error next to its field")
    assert in_schema(person["slug"], lambda: WorkflowConfig.objects.count()) == 0

    page.get_by_label("Report period (days)").fill("7")
    page.get_by_role("button", name="Create workflow").click()
    page.wait_for_url(re.compile(r".*/dashboard/workflows/\d+\?created=1"))
    next_runs = page.get_by_test_id("next-runs").first.locator("li")
    next_runs.first.wait_for()
    page.steps.shot("created with its next runs in Berlin time")

    config = in_schema(person["slug"], lambda: WorkflowConfig.objects.get())
    assert (config.schedule_cron, config.timezone, config.enabled) == ("0 9 * * 6,0", "Europe/Berlin", True)
    assert config.parameters["window_days"] == 7 and config.parameters["require_approval"] is True
    assert config.schedule_error == "" and config.schedule_synced_at is not None
    texts = next_runs.all_inner_texts()
    assert len(texts) == 5
    for text, iso in zip(texts, next_runs.locator("time").evaluate_all("els => els.map(e => e.dateTime)"), strict=True):
        moment = datetime.fromisoformat(iso).astimezone(BERLIN)
        assert moment.weekday() in (5, 6) and (moment.hour, moment.minute) == (9, 0)
        assert text.startswith(("Sat", "Sun")) and "09:00" in text, text

    # the list: schedule in words with its zone, scheduled, then paused
    page.get_by_role("link", name="All workflows").click()
    row = page.get_by_test_id(f"config-row-{config.pk}")
    row.wait_for()
    assert row.get_by_test_id("config-schedule").inner_text() == "Weekends at 09:00 (Europe/Berlin)"
    assert row.locator("[data-status]").first.inner_text() == "scheduled"
    row.get_by_text("Never run").wait_for()
    row.get_by_role("button", name="Pause Weekly blog report").click()
    row.locator('[data-status="paused"]').wait_for()
    row.get_by_role("button", name="Resume Weekly blog report").wait_for()
    page.steps.shot("paused in the list")
    assert in_schema(person["slug"], lambda: WorkflowConfig.objects.get().enabled) is False

    # run now (a paused workflow can still be run by hand), with a worker on this test's queue
    with Worker(settings.TEMPORAL_TASK_QUEUE):
        row.get_by_role("button", name="Run now: Weekly blog report").click()
        page.wait_for_url(re.compile(r".*/dashboard/workflows/runs/\d+"))
        page.locator('[data-testid="run-status"] [data-status="waiting_approval"]').wait_for(timeout=60_000)
        steps = page.get_by_test_id("run-steps")
        steps.get_by_text("read source").wait_for()
        preview = page.get_by_test_id("approval-preview")
        preview.get_by_text(ANSWER).wait_for()
        page.steps.shot("run waiting for approval with its steps")
        assert data["wordpress"].created == []

        page.get_by_role("button", name="Approve").click()
        dialog = page.get_by_role("dialog", name="Approve and publish")
        dialog.get_by_label("Comment (optional)").fill("Looks right")
        dialog.get_by_role("button", name="Approve").click()
        decision = page.get_by_test_id("approval-decision")
        decision.wait_for()
        assert decision.inner_text().startswith(f"Approved by {person['email']}")
        assert "Looks right" in decision.inner_text()
        page.locator('[data-testid="run-status"] [data-status="completed"]').wait_for(timeout=60_000)
        page.steps.shot("approved and completed")

    assert len(data["wordpress"].created) == 1
    run = in_schema(person["slug"], lambda: WorkflowRun.objects.get())
    assert (run.status, run.trigger, run.config_id) == ("completed", "manual", config.pk)

    page.goto("/dashboard/workflows?tab=runs")
    runs = page.get_by_test_id("runs-table")
    runs.get_by_role("link", name=f"Run #{run.pk}").wait_for()
    assert runs.locator('[data-status="completed"]').count() == 1
    page.steps.shot("run history")


def test_a_viewer_sees_workflows_read_only(page, client, httpserver):
    owner = register(client, email=f"owner@{unique_slug('wfv')}.example")
    data = seed(client, owner, httpserver)
    body = {
        "name": "Sunday digest",
        "template": "agent_run",
        "parameters": {"agent": data["agent"]["id"], "input": "Write the digest."},
        "schedule_cron": "0 18 * * 0",
        "timezone": "America/New_York",
    }
    response = client.post("/api/v1/workflows/configs/", body, content_type="application/json", **data["headers"])
    assert response.status_code == 201, response.content
    config = response.json()
    viewer = make_member(Tenant.objects.get(slug=owner["slug"]), "viewer")

    login(page, email=viewer.email, password=PASSWORD)
    page.goto("/dashboard/workflows")
    row = page.get_by_test_id(f"config-row-{config['id']}")
    row.wait_for()
    assert row.get_by_test_id("config-schedule").inner_text() == "At 18:00, only on Sunday (America/New_York)"
    assert page.get_by_test_id("read-only-note").inner_text() == "Read only for your role."
    assert row.get_by_role("button").count() == 0
    assert page.get_by_role("link", name=re.compile("New workflow")).count() == 0
    page.steps.shot("viewer list")

    row.get_by_role("link", name="Sunday digest").click()
    upcoming = page.get_by_test_id("next-runs").locator("li")
    upcoming.first.wait_for()
    assert all(t.startswith("Sun") and "18:00" in t for t in upcoming.all_inner_texts())
    for name in ("Run now", "Pause", "Delete", "Save changes"):
        assert page.get_by_role("button", name=re.compile(name)).count() == 0
    page.get_by_text("What the agent should do").wait_for()  # the read-only summary
    page.steps.shot("viewer config detail")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/dashboard/workflows?tab=approvals")
    page.get_by_role("heading", name="Nothing to approve").wait_for()
    page.steps.shot("viewer approvals at phone width")
