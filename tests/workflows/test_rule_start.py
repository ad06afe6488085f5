"""Automation rules start workflows: `start_workflow` starts the configuration once, even when the rule's
action is run again."""

from __future__ import annotations

import asyncio

import pytest
from django_tenants.utils import schema_context

from apps.integrations import dispatch
from apps.integrations.models import ActionRun, Event
from apps.workflows.models import WorkflowRun
from tests.workflows.test_configs import Org, create_config, terminate

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db):
    return Org()


def test_a_rule_starts_the_configured_workflow_once(api, acme):
    config = create_config(api, acme, [])  # manual only: no schedule to clean up
    rule = api.post(
        "/api/v1/rules/",
        {
            "name": "Sync on new deal",
            "trigger_event": "crm.deal.won",
            "actions": [{"type": "start_workflow", "config": config["id"]}],
        },
        **acme.auth("admin"),
    )
    assert rule.status_code == 201, rule.content
    missing = api.post(
        "/api/v1/rules/",
        {"name": "x", "trigger_event": "crm.deal.won", "actions": [{"type": "start_workflow", "config": 999}]},
        **acme.auth("admin"),
    )
    assert missing.status_code == 400 and "actions.0.config" in missing.json()
    api.post("/api/v1/events/", {"type": "crm.deal.won", "payload": {"amount": 900}}, **acme.auth("member"))

    with schema_context(acme.schema):
        dispatch.event_process(Event.objects.get().pk)
        action = ActionRun.objects.get()
        dispatch.action_run_perform(action.pk)
        ActionRun.objects.filter(pk=action.pk).update(status=ActionRun.Status.PENDING)  # as if redelivered
        dispatch.action_run_perform(action.pk)
        action.refresh_from_db()
        runs = list(WorkflowRun.objects.all())

    try:
        assert action.status == ActionRun.Status.SUCCEEDED
        assert len(runs) == 1 and runs[0].trigger == "rule" and runs[0].config_id == config["id"]
        assert action.result["workflow_run"] == runs[0].pk
    finally:
        asyncio.run(terminate(*[run.workflow_id for run in runs]))
