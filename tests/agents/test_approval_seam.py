"""The approvals seam (apps.agents.approvals) as the MCP server uses it: policies, requesting, waiting, and the
executor of approvals without a run. Real PostgreSQL; the connector is a loopback fake."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.agents import approvals
from apps.agents.models import AgentApproval, ToolGrant
from apps.integrations.models import Event
from apps.integrations.routing.models import PendingWork
from tests.agents.test_runtime import Org
from tests.connectors.providers.test_hubspot import FakeHubSpot


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


def test_the_policy_asks_when_the_grant_asks_or_a_rule_started_the_run_without_the_unattended_flag(acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = acme.agent(grants=[(crm, ["contacts"], ["upsert_contact"])])
    with schema_context(acme.schema):
        grant = ToolGrant.objects.get(agent=agent)
        assert approvals.action_policy(grant=grant, action="upsert_contact", started_by_rule=False) == "allow"
        assert approvals.action_policy(grant=grant, action="upsert_contact", started_by_rule=True) == "ask"
        grant.allow_unattended_from_rules = True
        assert approvals.action_policy(grant=grant, action="upsert_contact", started_by_rule=True) == "allow"
        grant.action_policies = {"upsert_contact": "ask"}
        assert approvals.action_policy(grant=grant, action="upsert_contact", started_by_rule=False) == "ask"
        assert approvals.action_policy(grant=grant, action="upsert_contact", started_by_rule=True) == "ask"


def test_a_request_is_pending_expires_later_raises_the_event_is_audited_and_indexed_for_the_sweep(acme, hubspot):
    crm = acme.hubspot(hubspot)
    with schema_context(acme.schema):
        approval = approvals.approval_request(
            tenant=acme.tenant,
            connection=crm,
            action="upsert_contact",
            proposed_input={"email": "ada@example.com"},
            reason="The user asked for it.",
            source="mcp",
            actor_label="Zapier (bzs_abc)",
        )
        assert approval.status == "pending"
        left = approval.expires_at - timezone.now()
        assert timedelta(minutes=1439) < left <= timedelta(minutes=1440)
        event = Event.objects.get(type="bizosaas.approval.requested")
        assert event.payload["approval_id"] == str(approval.pk)
        assert event.payload["action"] == "upsert_contact"
        assert event.payload["proposed_input"] == {"email": "ada@example.com"}
        assert event.payload["requested_by"] == "Zapier (bzs_abc)"
        audit = AuditEvent.objects.get(action="approval.requested")
        assert audit.actor_label == "Zapier (bzs_abc)" and audit.object_id == str(approval.pk)
    work = PendingWork.objects.get(schema_name=acme.schema, kind="approval")
    assert work.state == "pending" and work.at == approval.expires_at


def expired_count() -> float:
    from prometheus_client import REGISTRY

    labels = {"source": "mcp", "outcome": "expired"}
    return REGISTRY.get_sample_value("bizosaas_agent_approvals_total", labels) or 0.0


def test_the_sweep_expires_what_is_past_its_time_and_only_visits_schemas_owing_one(acme, hubspot):
    crm = acme.hubspot(hubspot)
    before = expired_count()
    with schema_context(acme.schema):
        approval = approvals.approval_request(
            tenant=acme.tenant, connection=crm, action="upsert_contact", proposed_input={}, reason="", source="mcp"
        )
        assert approvals.expire_due() == {"schemas": 0, "expired": 0}  # not due yet
        AgentApproval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert approvals.expire_due() == {"schemas": 1, "expired": 1}
    with schema_context(acme.schema):
        assert AgentApproval.objects.get(pk=approval.pk).status == "expired"
    assert approvals.expire_due() == {"schemas": 0, "expired": 0}
    assert expired_count() == before + 1


@pytest.mark.django_db(transaction=True)
def test_waiting_returns_the_decision_as_soon_as_it_is_made_and_the_executor_performs_it(hubspot, monkeypatch):
    acme = Org(f"wait-{uuid.uuid4().hex[:8]}")
    crm = acme.hubspot(hubspot)
    performed = []

    def perform(approval):
        performed.append((approval.action, approval.final_input))
        return {"id": "9001"}

    # this test's executor for the test's length only: the real one (apps.mcp) is back for the tests after it
    monkeypatch.setitem(approvals._executors, "mcp", perform)
    approvals.register_approval_executor("mcp", perform)
    with schema_context(acme.schema):
        approval = approvals.approval_request(
            tenant=acme.tenant,
            connection=crm,
            action="upsert_contact",
            proposed_input={"email": "ada@example.com"},
            reason="",
            source="mcp",
        )
        started = time.monotonic()
        still = approvals.approval_wait(approval_id=approval.pk, timeout=0.3)
        assert still.status == "pending" and 0.3 <= time.monotonic() - started < 2

    owner = Actor.for_user(acme.people["owner"])
    schema = acme.schema

    def decide():
        time.sleep(0.3)
        with schema_context(schema):
            approvals.approval_approve(
                tenant=acme.tenant, actor=owner, approval=approval, input={"email": "grace@example.com"}
            )
        db.close()

    thread = threading.Thread(target=decide)
    thread.start()
    with schema_context(acme.schema):
        decided = approvals.approval_wait(approval_id=approval.pk, timeout=10)
    thread.join()
    assert decided.status == "approved"
    assert decided.final_input == {"email": "grace@example.com"}
    assert decided.result == {"id": "9001"} and decided.error == ""
    assert performed == [("upsert_contact", {"email": "grace@example.com"})]
    assert not PendingWork.objects.filter(schema_name=acme.schema, kind="approval").exists()
