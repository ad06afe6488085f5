"""A durable (Temporal) agent run that pauses for an approval: the `analyse` activity answers "waiting" instead of
holding a worker, the workflow asks again after a durable timer, and the decided run goes on in that activity (not
on the task queue); an expired approval fails the workflow's step with the reason."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from apps.accounts.audit.services import Actor
from apps.agents import approvals
from apps.agents.models import AgentApproval, AgentRun, LLMProvider, ToolGrant
from apps.workflows.models import WorkflowRun
from apps.workflows.temporal.template_activities import analyse
from tests.agents.test_runtime import FakeChatCompletions, Org, act, final
from tests.connectors.providers.test_hubspot import FakeHubSpot

pytestmark = pytest.mark.django_db(transaction=True)  # the activity closes its connection, as on a worker thread


def durable_run(org: Org, hubspot: FakeHubSpot, httpserver, replies):
    crm = org.hubspot(hubspot)
    fake = FakeChatCompletions(httpserver, [r(crm) if callable(r) else r for r in replies])
    provider = org.provider(
        kind=LLMProvider.Kind.OPENAI_COMPATIBLE,
        base_url=fake.base_url,
        default_model="gpt-4o-mini",
        credentials={"api_key": "sk-compatible-key"},
    )
    agent = org.agent(provider=provider, grants=[(crm, ["contacts"], ["upsert_contact"])])
    with schema_context(org.schema):
        ToolGrant.objects.filter(agent=agent).update(action_policies={"upsert_contact": "ask"})
        run = AgentRun.objects.create(agent=agent, input="Add Ada.", created_by_id=org.people["member"].pk)
        workflow_run = WorkflowRun.objects.create(
            template="agent_run", workflow_id=f"wf-{org.schema}-agent-{run.pk}", agent_run=run
        )
    payload = {"schema": org.schema, "run_pk": workflow_run.pk, "agent_id": agent.pk, "agent_run_id": run.pk}
    return run, payload


def proposal(crm):
    return act(
        "perform_connector_action", connection=crm.pk, action="upsert_contact", input={"email": "ada@example.com"}
    )


def test_the_activity_answers_waiting_and_goes_on_with_the_run_once_approved(httpserver):
    org = Org(f"durable-{uuid.uuid4().hex[:8]}")
    hubspot = FakeHubSpot(httpserver)
    run, payload = durable_run(org, hubspot, httpserver, [proposal, final("Ada added.")])
    environment = ActivityEnvironment()

    assert environment.run(analyse, payload) == {"agent_run_id": run.pk, "waiting": True}
    assert hubspot.upserts == []
    with schema_context(org.schema):
        approval = AgentApproval.objects.get(run=run)
        approvals.approval_approve(
            tenant=org.tenant, actor=Actor.for_user(org.people["admin"]), approval=approval, input=None
        )
        assert AgentRun.objects.get(pk=run.pk).status == "queued"  # for the workflow, not the task queue

    result = environment.run(analyse, {**payload, "resuming": True})

    assert result == {"agent_run_id": run.pk, "output": "Ada added."}
    assert [u["inputs"][0]["id"] for u in hubspot.upserts] == ["ada@example.com"]


def test_an_expired_approval_fails_the_durable_step_with_the_reason(httpserver):
    org = Org(f"durable-{uuid.uuid4().hex[:8]}")
    hubspot = FakeHubSpot(httpserver)
    _run, payload = durable_run(org, hubspot, httpserver, [proposal])
    environment = ActivityEnvironment()
    assert environment.run(analyse, payload)["waiting"] is True
    with schema_context(org.schema):
        AgentApproval.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    approvals.expire_due()

    with pytest.raises(ApplicationError) as failed:
        environment.run(analyse, {**payload, "resuming": True})
    assert failed.value.non_retryable is True
    assert str(failed.value).endswith(
        "The agent run failed: Approval expired: nobody decided on upsert_contact in time."
    )
    with schema_context(org.schema):
        assert AgentRun.objects.count() == 1  # not replaced by a new run
