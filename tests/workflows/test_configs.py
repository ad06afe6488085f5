"""Workflow configurations, schedules, runs and approvals through the API, against the real Temporal dev server:
parameters checked with field errors, a schedule that follows its configuration (created, paused, triggered,
deleted, repaired by reconcile), approvals that signal the waiting workflow and name who decided, the RBAC
matrix, and isolation between tenants."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tenants.utils import schema_context
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from apps.accounts.audit.models import AuditEvent
from apps.connectors.models import Connection
from apps.workflows import client as wf_client
from apps.workflows.models import WorkflowApproval, WorkflowConfig, WorkflowRun
from apps.workflows.services import next_runs
from bizosaas.temporal import connect
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")
CONFIGS = "/api/v1/workflows/configs/"


class Org:
    def __init__(self):
        slug = f"wf{uuid.uuid4().hex[:10]}"  # the Temporal server outlives each test: never reuse a schema name
        self.tenant = make_tenant(slug=slug)
        self.people = {role: make_member(self.tenant, role, email=f"{role}@{slug}.test") for role in ROLES}

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def auth(self, role: str = "admin") -> dict:
        return bearer(self.people[role], self.tenant)

    def connection(self, provider: str = "hubspot", name: str = "CRM") -> Connection:
        with schema_context(self.schema):
            return Connection.objects.create(
                provider=provider,
                name=name,
                config={},
                credentials={"private_app_token": "t"},
                status=Connection.Status.ACTIVE,
            )


@pytest.fixture
def acme(db):
    return Org()


@pytest.fixture
def globex(db):
    return Org()


@pytest.fixture
def schedules():
    """Schedule ids to delete at the end, whatever the test did."""
    created: list[str] = []
    yield created
    for sid in created:
        wf_client.schedule_delete_id(sid)


def sync_body(connection: Connection, **extra) -> dict:
    return {
        "name": "Contacts sync",
        "template": "connection_sync",
        "parameters": {"connection": connection.pk, "resource": "contacts"},
        **extra,
    }


def create_config(api, org, schedules, **extra) -> dict:
    response = api.post(CONFIGS, sync_body(org.connection(), **extra), **org.auth())
    assert response.status_code == 201, response.content
    body = response.json()
    if body["schedule_cron"]:
        schedules.append(wf_client.schedule_id(org.schema, body["id"]))
    return body


def describe(org, config_id: int) -> dict | None:
    return wf_client.schedule_describe(org.schema, config_id)


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


async def started_input(workflow_id: str) -> tuple[str, dict, WorkflowExecutionStatus]:
    client = await connect()
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [payload] = await client.data_converter.decode(started.input.payloads)
    return description.workflow_type, payload, description.status


async def cancel_requested(workflow_id: str) -> bool:
    client = await connect()
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return any(event.HasField("workflow_execution_cancel_requested_event_attributes") for event in history.events)


async def terminate(*workflow_ids: str) -> None:
    client = await connect()
    for workflow_id in workflow_ids:
        await client.get_workflow_handle(workflow_id).terminate("test cleanup")


# --- validation ----------------------------------------------------------------------------------------------


def test_invalid_configurations_are_refused_with_field_errors_and_nothing_is_created(api, acme, globex):
    crm = acme.connection()
    for number in range(3):  # the other tenant's connection id must not exist in acme's schema
        other = globex.connection(name=f"Other {number}")
    site = acme.connection("wordpress", name="Blog")

    unknown = api.post(CONFIGS, {**sync_body(crm), "template": "no_such_template"}, **acme.auth())
    foreign = api.post(CONFIGS, sync_body(other), **acme.auth())
    lacking = api.post(CONFIGS, sync_body(site), **acme.auth())
    bad_cron = api.post(CONFIGS, sync_body(crm, schedule_cron="0 9 * *"), **acme.auth())
    bad_minute = api.post(CONFIGS, sync_body(crm, schedule_cron="61 9 * * *"), **acme.auth())
    bad_zone = api.post(CONFIGS, sync_body(crm, schedule_cron="0 9 * * 6,0", timezone="Europe/Atlantis"), **acme.auth())

    assert unknown.status_code == 400 and list(unknown.json()) == ["template"]
    assert foreign.status_code == 400
    assert foreign.json() == {"parameters.connection": ["No such connection in this tenant."]}
    assert lacking.status_code == 400 and list(lacking.json()) == ["parameters.resource"]
    assert "has no resource 'contacts'" in lacking.json()["parameters.resource"][0]
    assert bad_cron.status_code == 400 and list(bad_cron.json()) == ["schedule_cron"]
    assert bad_minute.status_code == 400 and list(bad_minute.json()) == ["schedule_cron"]
    assert bad_zone.status_code == 400 and list(bad_zone.json()) == ["timezone"]
    with schema_context(acme.schema):
        assert WorkflowConfig.objects.count() == 0


def test_templates_are_listed_with_their_parameter_schemas(api, acme):
    response = api.get("/api/v1/workflows/templates/", **acme.auth("viewer"))

    assert response.status_code == 200
    templates = {t["key"]: t for t in response.json()}
    assert set(templates) == {"connector_report", "connection_sync", "agent_run"}
    resource = next(p for p in templates["connection_sync"]["parameters"] if p["name"] == "resource")
    assert resource == {**resource, "type": "resource", "of": "connection", "required": True}


# --- schedules -----------------------------------------------------------------------------------------------


def test_saving_creates_the_schedule_disabling_pauses_it_and_deleting_deletes_it(api, acme, schedules):
    config = create_config(api, acme, schedules, schedule_cron="0 9 * * 6,0", timezone="Europe/Berlin")

    created = describe(acme, config["id"])
    assert created is not None and created["paused"] is False
    assert created["shape"].workflow == "workflows.connection_sync"
    assert created["shape"].input == {
        "schema": acme.schema,
        "config_id": config["id"],
        "template": "connection_sync",
        "params": config["parameters"],
        "trigger": "schedule",
        "user_id": None,
    }
    assert created["shape"].time_zone == "Europe/Berlin"
    # Temporal's own next times are the preview the API shows
    shown = [datetime.fromisoformat(moment) for moment in config["next_runs"]]
    assert created["next_action_times"][:5] == shown
    assert config["schedule"] == "scheduled" and config["schedule_error"] == ""
    assert config["schedule_synced_at"] is not None

    disabled = api.patch(f"{CONFIGS}{config['id']}/", {"enabled": False}, **acme.auth())

    assert disabled.status_code == 200
    assert disabled.json()["schedule"] == "paused" and disabled.json()["next_runs"] == []
    assert describe(acme, config["id"])["paused"] is True

    api.patch(f"{CONFIGS}{config['id']}/", {"enabled": True, "schedule_cron": "30 7 * * 1-5"}, **acme.auth())

    resumed = describe(acme, config["id"])
    assert resumed["paused"] is False
    assert all(moment.astimezone(ZoneInfo("Europe/Berlin")).hour == 7 for moment in resumed["next_action_times"])

    deleted = api.delete(f"{CONFIGS}{config['id']}/", **acme.auth())

    assert deleted.status_code == 204
    assert describe(acme, config["id"]) is None
    with schema_context(acme.schema):
        assert not WorkflowConfig.objects.filter(pk=config["id"]).exists()
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-4:] == [
        "workflow_config.created",
        "workflow_config.updated",
        "workflow_config.updated",
        "workflow_config.deleted",
    ]


def test_run_now_starts_the_workflow_and_the_schedule_trigger_runs_its_action(api, acme, schedules):
    config = create_config(api, acme, schedules, schedule_cron="0 3 1 1 *")

    response = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("member"))

    assert response.status_code == 202, response.content
    run = response.json()
    assert run["workflow_id"].startswith(f"wf-{acme.schema}-{config['id']}-")
    assert run["status"] == "running" and run["trigger"] == "manual" and run["temporal_run_id"]
    workflow_type, payload, state = asyncio.run(started_input(run["workflow_id"]))
    assert workflow_type == "workflows.connection_sync" and state == WorkflowExecutionStatus.RUNNING
    assert payload == {
        "schema": acme.schema,
        "config_id": config["id"],
        "template": "connection_sync",
        "params": config["parameters"],
        "trigger": "manual",
        "user_id": acme.people["member"].pk,
    }

    wf_client.schedule_trigger(acme.schema, config["id"])

    triggered = wait_for(lambda: (describe(acme, config["id"]) or {}).get("recent_actions"))
    assert len(triggered) == 1
    assert triggered[0]["workflow_id"].startswith(f"wf-{acme.schema}-{config['id']}-")
    asyncio.run(terminate(run["workflow_id"], triggered[0]["workflow_id"]))


def test_a_manual_only_configuration_has_no_schedule_and_still_runs_now(api, acme, schedules):
    config = create_config(api, acme, schedules)

    response = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("member"))

    assert config["schedule"] == "manual" and config["next_runs"] == []
    assert describe(acme, config["id"]) is None
    assert response.status_code == 202
    asyncio.run(terminate(response.json()["workflow_id"]))


def test_next_runs_of_a_weekend_schedule_are_09_00_berlin_time_across_the_dst_change():
    config = WorkflowConfig(template="connection_sync", schedule_cron="0 9 * * 6,0", timezone="Europe/Berlin")

    moments = next_runs(config, after=datetime(2026, 3, 20, 12, tzinfo=UTC))

    assert [m.isoformat() for m in moments] == [
        "2026-03-21T09:00:00+01:00",
        "2026-03-22T09:00:00+01:00",
        "2026-03-28T09:00:00+01:00",
        "2026-03-29T09:00:00+02:00",  # summer time began that night
        "2026-04-04T09:00:00+02:00",
    ]


def test_when_temporal_is_unreachable_the_save_answers_503_and_the_error_is_kept(api, acme, schedules):
    crm = acme.connection()
    with override_settings(TEMPORAL_ADDRESS="127.0.0.1:1"):
        response = api.post(CONFIGS, sync_body(crm, schedule_cron="0 9 * * *"), **acme.auth())

    assert response.status_code == 503
    body = response.json()
    assert "schedule could not be updated in Temporal" in body["detail"]
    schedules.append(wf_client.schedule_id(acme.schema, body["config"]))
    with schema_context(acme.schema):
        config = WorkflowConfig.objects.get(pk=body["config"])
    assert "cannot be reached" in config.schedule_error and config.schedule_synced_at is None
    assert describe(acme, config.pk) is None

    call_command("reconcile_schedules", tenant=acme.tenant.slug)

    assert describe(acme, config.pk) is not None
    shown = api.get(f"{CONFIGS}{config.pk}/", **acme.auth("viewer")).json()
    assert shown["schedule_error"] == "" and shown["schedule_synced_at"] is not None


def test_reconcile_recreates_a_deleted_schedule_repairs_drift_and_deletes_an_orphan(api, acme, schedules, capsys):
    kept = create_config(api, acme, schedules, schedule_cron="0 9 * * *")
    drifted = create_config(api, acme, schedules, schedule_cron="0 10 * * *", name="Drifted")
    wf_client.schedule_delete(acme.schema, kept["id"])  # behind our back
    with schema_context(acme.schema):
        WorkflowConfig.objects.filter(pk=drifted["id"]).update(enabled=False)  # Temporal never heard of it
    orphan = WorkflowConfig(
        pk=drifted["id"] + 100, template="connection_sync", parameters=drifted["parameters"], schedule_cron="0 11 * * *"
    )
    wf_client.schedule_upsert(acme.schema, orphan)  # a schedule whose configuration does not exist
    orphan_id = wf_client.schedule_id(acme.schema, orphan.pk)
    schedules.append(orphan_id)
    assert wait_for(lambda: orphan_id in wf_client.schedule_ids(f"wf-{acme.schema}-"))

    call_command("reconcile_schedules", tenant=acme.tenant.slug)

    out = capsys.readouterr().out
    assert f"created wf-{acme.schema}-{kept['id']}" in out
    assert f"updated wf-{acme.schema}-{drifted['id']}" in out
    assert f"deleted {orphan_id}" in out
    assert "1 created, 1 updated, 1 deleted, 0 unchanged, 0 error(s)" in out
    assert describe(acme, kept["id"])["paused"] is False
    assert describe(acme, drifted["id"])["paused"] is True
    assert describe(acme, orphan.pk) is None

    call_command("reconcile_schedules", tenant=acme.tenant.slug)

    assert "0 created, 0 updated, 0 deleted, 2 unchanged" in capsys.readouterr().out


# --- approvals -----------------------------------------------------------------------------------------------


@workflow.defn(name="tests.wait_for_decision", sandboxed=False)
class WaitForDecision:
    """Stands in for a template waiting at its approval step: returns the "decide" payload it receives."""

    def __init__(self) -> None:
        self.decision: dict | None = None

    @workflow.signal(name="decide")
    def decide(self, payload: dict) -> None:
        self.decision = payload

    @workflow.run
    async def run(self) -> dict:
        await workflow.wait_condition(lambda: self.decision is not None)
        return self.decision


async def start_waiting(workflow_id: str, task_queue: str) -> None:
    client = await connect()
    await client.start_workflow(WaitForDecision.run, id=workflow_id, task_queue=task_queue)


async def result_with_worker(workflow_id: str, task_queue: str) -> dict:
    client = await connect()
    async with Worker(client, task_queue=task_queue, workflows=[WaitForDecision]):
        return await client.get_workflow_handle(workflow_id).result()


def waiting_approval(org, workflow_id: str) -> WorkflowApproval:
    with schema_context(org.schema):
        run = WorkflowRun.objects.create(
            template="connector_report",
            workflow_id=workflow_id,
            status=WorkflowRun.Status.WAITING_APPROVAL,
            trigger=WorkflowRun.Trigger.MANUAL,
        )
        return WorkflowApproval.objects.create(run=run, step="publish", preview={"title": "Weekly report"})


@pytest.mark.parametrize(("verb", "approved"), [("approve", True), ("reject", False)])
def test_deciding_a_pending_approval_signals_the_waiting_workflow_and_audits_who(api, acme, verb, approved):
    task_queue = f"test-{uuid.uuid4().hex}"
    workflow_id = f"wf-{acme.schema}-adhoc-{uuid.uuid4().hex[:12]}"
    asyncio.run(start_waiting(workflow_id, task_queue))
    approval = waiting_approval(acme, workflow_id)
    member = acme.people["member"]

    listed = api.get("/api/v1/workflows/approvals/?status=pending", **acme.auth("viewer"))
    response = api.post(
        f"/api/v1/workflows/approvals/{approval.pk}/{verb}/", {"comment": "Looks right"}, **acme.auth("member")
    )
    again = api.post(f"/api/v1/workflows/approvals/{approval.pk}/approve/", **acme.auth("member"))

    assert [a["id"] for a in listed.json()["results"]] == [approval.pk]
    assert response.status_code == 200, response.content
    assert response.json()["status"] == ("approved" if approved else "rejected")
    assert response.json()["decided_by_id"] == member.pk and response.json()["comment"] == "Looks right"
    assert again.status_code == 400 and list(again.json()) == ["status"]
    received = asyncio.run(result_with_worker(workflow_id, task_queue))
    assert received == {"approved": approved, "user_id": member.pk, "comment": "Looks right"}
    with schema_context(acme.schema):
        entries = list(AuditEvent.objects.filter(action__startswith="workflow.").values("action", "actor_label"))
    assert entries == [
        {"action": "workflow.approved" if approved else "workflow.rejected", "actor_label": member.email}
    ]
    detail = api.get(f"/api/v1/workflows/runs/{approval.run_id}/", **acme.auth("viewer")).json()
    assert [a["status"] for a in detail["approvals"]] == [response.json()["status"]]


def test_an_approval_of_a_run_no_longer_in_temporal_is_refused(api, acme):
    approval = waiting_approval(acme, f"wf-{acme.schema}-adhoc-{uuid.uuid4().hex[:12]}")

    response = api.post(f"/api/v1/workflows/approvals/{approval.pk}/approve/", **acme.auth("member"))

    assert response.status_code == 400
    assert response.json() == {"status": ["The run is no longer waiting for this approval."]}
    with schema_context(acme.schema):
        approval.refresh_from_db()
        assert approval.status == "expired" and not AuditEvent.objects.filter(action="workflow.approved").exists()


# --- runs ----------------------------------------------------------------------------------------------------


def test_runs_are_listed_filtered_cancelled_and_retried(api, acme, schedules):
    config = create_config(api, acme, schedules)
    first = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("member")).json()

    cancelled = api.post(f"/api/v1/workflows/runs/{first['id']}/cancel/", **acme.auth("member"))
    cancel_again = api.post(f"/api/v1/workflows/runs/{first['id']}/cancel/", **acme.auth("member"))
    retried = api.post(f"/api/v1/workflows/runs/{first['id']}/retry/", **acme.auth("member"))
    running = api.get("/api/v1/workflows/runs/?status=running&template=connection_sync", **acme.auth("viewer"))
    of_config = api.get(f"/api/v1/workflows/runs/?config={config['id']}", **acme.auth("viewer"))
    bad = api.get("/api/v1/workflows/runs/?status=sleeping", **acme.auth("viewer"))

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancel_again.status_code == 400
    assert retried.status_code == 202 and retried.json()["workflow_id"] != first["workflow_id"]
    assert [r["id"] for r in running.json()["results"]] == [retried.json()["id"]]
    assert {r["id"] for r in of_config.json()["results"]} == {first["id"], retried.json()["id"]}
    assert bad.status_code == 400 and list(bad.json()) == ["status"]
    _type, payload, _state = asyncio.run(started_input(retried.json()["workflow_id"]))
    assert payload["params"] == config["parameters"] and payload["trigger"] == "manual"
    assert asyncio.run(cancel_requested(first["workflow_id"])) is True  # the worker turns it into a cancellation
    asyncio.run(terminate(first["workflow_id"], retried.json()["workflow_id"]))


# --- RBAC and isolation --------------------------------------------------------------------------------------


def test_viewers_read_members_run_and_decide_admins_configure(api, acme, schedules):
    config = create_config(api, acme, schedules)
    workflow_id = f"wf-{acme.schema}-adhoc-{uuid.uuid4().hex[:12]}"
    task_queue = f"test-{uuid.uuid4().hex}"
    asyncio.run(start_waiting(workflow_id, task_queue))
    approval = waiting_approval(acme, workflow_id)
    body = sync_body(acme.connection())

    viewer_list = api.get(CONFIGS, **acme.auth("viewer"))
    viewer_run = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("viewer"))
    viewer_approve = api.post(f"/api/v1/workflows/approvals/{approval.pk}/approve/", **acme.auth("viewer"))
    member_create = api.post(CONFIGS, body, **acme.auth("member"))
    member_edit = api.patch(f"{CONFIGS}{config['id']}/", {"name": "Renamed"}, **acme.auth("member"))
    member_delete = api.delete(f"{CONFIGS}{config['id']}/", **acme.auth("member"))
    member_run = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("member"))
    member_approve = api.post(f"/api/v1/workflows/approvals/{approval.pk}/approve/", **acme.auth("member"))
    admin_edit = api.patch(f"{CONFIGS}{config['id']}/", {"name": "Renamed"}, **acme.auth("admin"))

    assert viewer_list.status_code == 200 and [c["id"] for c in viewer_list.json()["results"]] == [config["id"]]
    assert (viewer_run.status_code, viewer_approve.status_code) == (403, 403)
    assert (member_create.status_code, member_edit.status_code, member_delete.status_code) == (403, 403, 403)
    assert (member_run.status_code, member_approve.status_code) == (202, 200)
    assert admin_edit.status_code == 200 and admin_edit.json()["name"] == "Renamed"
    with schema_context(acme.schema):
        assert WorkflowRun.objects.filter(config_id=config["id"]).count() == 1  # the viewer's run never started
    assert asyncio.run(result_with_worker(workflow_id, task_queue))["approved"] is True
    asyncio.run(terminate(member_run.json()["workflow_id"]))


def test_another_tenant_can_neither_see_nor_control_configs_runs_or_approvals(api, acme, globex, schedules):
    config = create_config(api, acme, schedules, schedule_cron="0 9 * * *")
    run = api.post(f"{CONFIGS}{config['id']}/run/", **acme.auth("member")).json()
    approval = waiting_approval(acme, f"wf-{acme.schema}-adhoc-{uuid.uuid4().hex[:12]}")
    them = globex.auth("owner")

    attempts = [
        api.get(f"{CONFIGS}{config['id']}/", **them),
        api.patch(f"{CONFIGS}{config['id']}/", {"enabled": False}, **them),
        api.post(f"{CONFIGS}{config['id']}/run/", **them),
        api.delete(f"{CONFIGS}{config['id']}/", **them),
        api.get(f"/api/v1/workflows/runs/{run['id']}/", **them),
        api.post(f"/api/v1/workflows/runs/{run['id']}/cancel/", **them),
        api.post(f"/api/v1/workflows/runs/{run['id']}/retry/", **them),
        api.get(f"/api/v1/workflows/approvals/{approval.pk}/", **them),
        api.post(f"/api/v1/workflows/approvals/{approval.pk}/approve/", **them),
        api.post(f"/api/v1/workflows/approvals/{approval.pk}/reject/", **them),
    ]
    lists = [
        api.get(f"/api/v1/workflows/{name}/", **them).json()["results"] for name in ("configs", "runs", "approvals")
    ]

    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert lists == [[], [], []]
    assert describe(acme, config["id"])["paused"] is False
    with schema_context(acme.schema):
        assert WorkflowRun.objects.get(pk=run["id"]).status == "running"
        assert WorkflowRun.objects.count() == 2  # acme's run and the approval's run: nothing retried
        assert WorkflowApproval.objects.get(pk=approval.pk).status == "pending"
    _type, _payload, state = asyncio.run(started_input(run["workflow_id"]))
    assert state == WorkflowExecutionStatus.RUNNING
    asyncio.run(terminate(run["workflow_id"]))


@pytest.mark.parametrize("collection", ["configs", "runs", "approvals"])
def test_list_endpoints_use_a_constant_number_of_queries(api, acme, collection, django_assert_max_num_queries):
    crm = acme.connection()
    with schema_context(acme.schema):
        for index in range(6):
            config = WorkflowConfig.objects.create(
                name=f"Sync {index}",
                template="connection_sync",
                parameters={"connection": crm.pk, "resource": "contacts"},
                schedule_cron="0 9 * * 6,0",
                timezone="Europe/Berlin",
            )
            run = WorkflowRun.objects.create(config=config, template="connection_sync", workflow_id=f"wf-x-{index}")
            WorkflowApproval.objects.create(run=run, step="publish")
    auth = acme.auth("viewer")

    with django_assert_max_num_queries(8):
        response = api.get(f"/api/v1/workflows/{collection}/", **auth)

    assert response.status_code == 200 and response.json()["count"] == 6


def test_the_schedule_editor_previews_next_runs_before_saving_and_nothing_is_created(api, acme):
    body = {"schedule_cron": "0 9 * * 6,0", "timezone": "Europe/Berlin"}

    answer = api.post(f"{CONFIGS}preview-schedule/", body, **acme.auth("viewer"))

    assert answer.status_code == 200
    runs = [datetime.fromisoformat(moment) for moment in answer.json()["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs)
    berlin = [moment.astimezone(ZoneInfo("Europe/Berlin")) for moment in runs]
    assert {moment.strftime("%a %H:%M") for moment in berlin} <= {"Sat 09:00", "Sun 09:00"}
    assert all(moment.utcoffset() == moment.astimezone(ZoneInfo("Europe/Berlin")).utcoffset() for moment in runs)

    refused = api.post(
        f"{CONFIGS}preview-schedule/", {"schedule_cron": "61 * * *", "timezone": "Mars/Base"}, **acme.auth()
    )

    assert refused.status_code == 400
    assert set(refused.json()) == {"schedule_cron", "timezone"}
    with schema_context(acme.schema):
        assert not WorkflowConfig.objects.exists()


def test_each_configuration_in_the_list_names_its_latest_run(api, acme):
    crm = acme.connection()
    with schema_context(acme.schema):
        ran, _never = (
            WorkflowConfig.objects.create(
                name=name, template="connection_sync", parameters={"connection": crm.pk, "resource": "contacts"}
            )
            for name in ("Ran twice", "Never ran")
        )
        older = WorkflowRun.objects.create(config=ran, template="connection_sync", workflow_id="wf-last-1")
        newer = WorkflowRun.objects.create(
            config=ran, template="connection_sync", workflow_id="wf-last-2", status=WorkflowRun.Status.FAILED
        )
        WorkflowRun.objects.filter(pk=older.pk).update(started_at=newer.started_at - timedelta(hours=1))

    listed = {c["name"]: c["last_run"] for c in api.get(CONFIGS, **acme.auth("viewer")).json()["results"]}
    detail = api.get(f"{CONFIGS}{ran.pk}/", **acme.auth("viewer")).json()["last_run"]

    assert listed["Never ran"] is None
    assert listed["Ran twice"]["id"] == newer.pk and listed["Ran twice"]["status"] == "failed"
    assert detail == listed["Ran twice"]
