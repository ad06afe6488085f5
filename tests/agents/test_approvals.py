"""Approvals before actions, end to end: a run through the real CrewAI pipeline (a scripted model) pauses at an
`ask` action, shows up in the approvals inbox, and goes on in a fresh worker once a person decides. HubSpot is the
loopback fake; PostgreSQL, Redis and the task path are the real ones."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.agents import approvals
from apps.agents.models import AgentApproval, AgentRun, LLMProvider, ToolGrant
from apps.agents.runs import run_create
from apps.integrations.models import Event
from tests.agents.test_config import put
from tests.agents.test_runtime import FakeChatCompletions, Org, act, final, scripted_llm, start
from tests.connectors.providers.test_hubspot import FakeHubSpot


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def globex(db):
    return Org("globex")


@pytest.fixture
def hubspot(httpserver):
    return FakeHubSpot(httpserver)


def ask_agent(org: Org, crm, *, policy="ask", unattended=False, provider=None):
    agent = org.agent(provider=provider or org.provider(), grants=[(crm, ["contacts"], ["upsert_contact"])])
    with schema_context(org.schema):
        ToolGrant.objects.filter(agent=agent).update(
            action_policies={"upsert_contact": policy} if policy else {}, allow_unattended_from_rules=unattended
        )
    return agent


def upsert(crm, email="ada@example.com", **extra):
    return act(
        "perform_connector_action",
        connection=crm.pk,
        action="upsert_contact",
        input={"email": email, "first_name": "Ada"},
        **extra,
    )


def paused_run(api, org, crm, agent, *, text="Add Ada to the CRM.", reason="Ada asked to join the newsletter."):
    llm = scripted_llm([upsert(crm, reason=reason)])
    run = start(api, org, agent, text)
    org.execute(run["id"], llm)
    return run, llm


def inbox(api, org, role="viewer", **params):
    response = api.get("/api/v1/approvals/", params, **org.auth(role))
    assert response.status_code == 200, response.content
    return response.json()


def test_a_run_pauses_at_an_ask_action_and_the_approval_is_in_the_inbox_with_the_proposal(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)

    run, llm = paused_run(api, acme, crm, agent)

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth("viewer")).json()
    assert body["status"] == "waiting_approval"
    assert body["finished_at"] is None
    assert [(s["kind"], s["tool"]) for s in body["steps"]] == [("llm", ""), ("approval", "perform_connector_action")]
    assert hubspot.upserts == []  # nothing was sent to the provider
    assert len(llm.received) == 1  # the model was not called again: the run stopped at the call

    page = inbox(api, acme, status="pending")
    assert page["count"] == 1
    [item] = page["results"]
    assert item["kind"] == "agent" and item["status"] == "pending"
    assert item["proposed_input"] == {"email": "ada@example.com", "first_name": "Ada"}
    assert item["agent"] == {"id": agent.pk, "name": "Sales assistant"}
    assert item["run"] == run["id"]
    assert item["reason"] == "Ada asked to join the newsletter."
    assert item["connection"]["id"] == crm.pk and item["action"] == "upsert_contact"
    assert item["expires_at"] and item["requested_at"]
    assert api.get("/api/v1/approvals/count/", **acme.auth("viewer")).json() == {"pending": 1}
    with schema_context(acme.schema):
        event = Event.objects.get(type="bizosaas.approval.requested")
        assert event.payload["approval_id"] == item["id"] and event.payload["run_id"] == run["id"]


def test_without_a_stated_reason_the_models_last_thought_is_the_reason(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    llm = scripted_llm([upsert(crm)])
    run = start(api, acme, agent, "Add Ada.")
    acme.execute(run["id"], llm)
    [item] = inbox(api, acme)["results"]
    assert item["reason"] == "I should use perform_connector_action."


def test_approved_with_edited_input_the_provider_gets_the_edit_and_the_run_completes(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    run, _llm = paused_run(api, acme, crm, agent)
    [item] = inbox(api, acme)["results"]

    edited = {"email": "ada.lovelace@example.com", "first_name": "Ada"}
    response = api.post(f"/api/v1/approvals/{item['id']}/approve/", {"input": edited}, **acme.auth("member"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["final_input"] == edited
    assert hubspot.upserts == []  # performed by the resumed run, not by the request

    with schema_context(acme.schema):
        assert AgentRun.objects.get(pk=run["id"]).status == "queued"
    resumed = scripted_llm([final("Ada is in HubSpot.")])
    acme.execute(run["id"], resumed)

    assert [u["inputs"][0]["id"] for u in hubspot.upserts] == ["ada.lovelace@example.com"]
    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Ada is in HubSpot."
    kinds = [(s["kind"], s["tool"]) for s in body["steps"]]
    assert kinds == [
        ("llm", ""),
        ("approval", "perform_connector_action"),
        ("approval", "upsert_contact"),
        ("tool_call", "perform_connector_action"),
        ("llm", ""),
        ("answer", ""),
    ]
    assert body["steps"][2]["result_summary"] == "Approved by member@acme.test with edited input."
    assert body["steps"][3]["arguments"]["input"] == edited
    prompt = json.dumps(resumed.received[0])
    assert "ada.lovelace@example.com" in prompt and "do not repeat them" in prompt  # the model sees the outcome
    with schema_context(acme.schema):
        audit = AuditEvent.objects.get(action="approval.approved")
        assert audit.actor_label == "member@acme.test"
        assert audit.changes["input"] == {"email": ["ada@example.com", "ada.lovelace@example.com"]}
        assert audit.changes["edited"] is True


def test_edited_input_that_breaks_the_schema_is_refused_with_field_detail_and_nothing_changes(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    run, _llm = paused_run(api, acme, crm, agent)
    [item] = inbox(api, acme)["results"]

    response = api.post(
        f"/api/v1/approvals/{item['id']}/approve/", {"input": {"first_name": "Ada"}}, **acme.auth("member")
    )
    assert response.status_code == 400
    assert list(response.json()) == ["input.email"]
    response = api.post(f"/api/v1/approvals/{item['id']}/approve/", {"input": "nope"}, **acme.auth("member"))
    assert response.status_code == 400 and list(response.json()) == ["input"]

    assert inbox(api, acme)["results"][0]["status"] == "pending"
    with schema_context(acme.schema):
        assert AgentRun.objects.get(pk=run["id"]).status == "waiting_approval"
        assert not AuditEvent.objects.filter(action="approval.approved").exists()
    assert hubspot.upserts == []


def test_rejected_nothing_is_sent_and_the_model_is_told_with_the_comment(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    run, _llm = paused_run(api, acme, crm, agent)
    [item] = inbox(api, acme)["results"]

    response = api.post(
        f"/api/v1/approvals/{item['id']}/reject/", {"comment": "Ada never opted in."}, **acme.auth("admin")
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected" and response.json()["comment"] == "Ada never opted in."
    resumed = scripted_llm([final("I did not add Ada: she never opted in.")])
    acme.execute(run["id"], resumed)

    assert hubspot.upserts == []
    prompt = json.dumps(resumed.received[0])
    assert "rejected this action; it was NOT performed" in prompt and "Ada never opted in." in prompt
    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "succeeded" and body["output"] == "I did not add Ada: she never opted in."
    assert "tool_call" not in [s["kind"] for s in body["steps"]]
    again = api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("admin"))
    assert again.status_code == 409 and again.json()["status"] == "rejected"


def test_an_expired_approval_fails_its_run_with_the_reason(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    run, _llm = paused_run(api, acme, crm, agent)
    with schema_context(acme.schema):
        AgentApproval.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert approvals.expire_due() == {"schemas": 1, "expired": 1}

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "failed"
    assert body["error"] == "Approval expired: nobody decided on upsert_contact in time."
    [item] = inbox(api, acme)["results"]
    assert item["status"] == "expired"
    response = api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("member"))
    assert response.status_code == 409
    assert hubspot.upserts == []


def test_a_rule_started_runs_write_waits_by_default_and_runs_unattended_only_with_the_flag(acme, hubspot):
    crm = acme.hubspot(hubspot)
    for unattended, expected in ((False, "waiting_approval"), (True, "succeeded")):
        agent = ask_agent(acme, crm, policy=None, unattended=unattended)
        with schema_context(acme.schema):
            run = run_create(
                tenant=acme.tenant, actor=Actor.system("rule 1"), agent=agent, input="Add Ada.", source="rule"
            )
        acme.execute(run.pk, scripted_llm([upsert(crm), final("Added.")]))
        with schema_context(acme.schema):
            assert AgentRun.objects.get(pk=run.pk).status == expected
    assert len(hubspot.upserts) == 1  # only the unattended one


def test_an_api_started_run_with_the_default_policy_performs_at_once(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm, policy=None)
    run = start(api, acme, agent, "Add Ada.")
    acme.execute(run["id"], scripted_llm([upsert(crm), final("Added.")]))
    assert api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()["status"] == "succeeded"
    assert len(hubspot.upserts) == 1 and inbox(api, acme)["count"] == 0


def test_when_approver_must_differ_the_starter_is_refused_and_another_member_may_decide(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)
    paused_run(api, acme, crm, agent)  # started by the member
    [item] = inbox(api, acme)["results"]
    response = api.patch("/api/v1/tenant/", {"approver_must_differ": True}, **acme.auth("owner"))
    assert response.status_code == 200 and response.json()["approver_must_differ"] is True

    refused = api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("member"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "You started this run, and this organisation requires someone else to approve its actions."
    )
    assert inbox(api, acme)["results"][0]["status"] == "pending"
    assert api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("admin")).status_code == 200


def test_viewers_may_read_the_inbox_but_not_decide(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    paused_run(api, acme, crm, ask_agent(acme, crm))
    [item] = inbox(api, acme, role="viewer")["results"]
    assert api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("viewer")).status_code == 403
    assert api.post(f"/api/v1/approvals/{item['id']}/reject/", {}, **acme.auth("viewer")).status_code == 403
    assert inbox(api, acme)["results"][0]["status"] == "pending"


def test_another_tenant_can_neither_see_nor_decide(api, acme, globex, hubspot):
    crm = acme.hubspot(hubspot)
    paused_run(api, acme, crm, ask_agent(acme, crm))
    [item] = inbox(api, acme)["results"]

    assert inbox(api, globex, role="owner")["count"] == 0
    assert api.get("/api/v1/approvals/count/", **globex.auth("owner")).json() == {"pending": 0}
    assert api.get(f"/api/v1/approvals/{item['id']}/", **globex.auth("owner")).status_code == 404
    for verb in ("approve", "reject"):
        response = api.post(f"/api/v1/approvals/{item['id']}/{verb}/", {}, **globex.auth("owner"))
        assert response.status_code == 404
    assert inbox(api, acme)["results"][0]["status"] == "pending"


def test_grant_policies_are_set_through_the_api_and_unknown_actions_are_refused_on_their_field(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    agent = acme.agent(provider=acme.provider())
    url = f"/api/v1/agents/{agent.pk}/tools/"
    bad = {
        "grants": [
            {
                "connection": crm.pk,
                "actions": ["upsert_contact"],
                "action_policies": {"upsert_contact": "maybe", "delete_everything": "ask"},
            }
        ]
    }
    response = put(api, url, bad, **acme.auth("admin"))
    assert response.status_code == 400
    assert set(response.json()) == {
        "grants.0.action_policies.upsert_contact",
        "grants.0.action_policies.delete_everything",
    }
    good = {
        "grants": [
            {
                "connection": crm.pk,
                "actions": ["upsert_contact"],
                "action_policies": {"upsert_contact": "ask"},
                "allow_unattended_from_rules": True,
            }
        ]
    }
    response = put(api, url, good, **acme.auth("admin"))
    assert response.status_code == 200, response.content
    [grant] = response.json()["grants"]
    assert grant["action_policies"] == {"upsert_contact": "ask"} and grant["allow_unattended_from_rules"] is True
    available = api.get(f"/api/v1/agents/{agent.pk}/available-tools/", **acme.auth("admin")).json()
    [entry] = [c for c in available if c["connection"]["id"] == crm.pk]
    assert {a["name"]: a["policy"] for a in entry["actions"]}["upsert_contact"] == "ask"
    assert entry["allow_unattended_from_rules"] is True


def test_cancelling_a_waiting_run_takes_its_approval_out_of_the_inbox(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    run, _llm = paused_run(api, acme, crm, ask_agent(acme, crm))

    response = api.post(f"/api/v1/runs/{run['id']}/cancel/", {}, **acme.auth("member"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert api.get("/api/v1/approvals/count/", **acme.auth()).json() == {"pending": 0}
    [item] = inbox(api, acme)["results"]
    assert item["status"] == "rejected" and item["comment"] == "The run was cancelled by member@acme.test."
    assert hubspot.upserts == []


def test_an_api_key_decides_only_with_the_decide_scope_and_is_named_in_the_audit(api, acme, hubspot):
    from apps.accounts.services import api_key_create

    crm = acme.hubspot(hubspot)
    paused_run(api, acme, crm, ask_agent(acme, crm))
    [item] = inbox(api, acme)["results"]
    keys = {}
    for scope in ("approvals:read", "approvals:decide"):
        _key, secret = api_key_create(
            tenant=acme.tenant, name=scope, scopes=[scope], expires_at=None, created_by=None, actor=Actor.system("t")
        )
        keys[scope] = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    assert api.get("/api/v1/approvals/", **keys["approvals:read"]).json()["count"] == 1
    assert api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **keys["approvals:read"]).status_code == 403
    response = api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **keys["approvals:decide"])

    assert response.status_code == 200, response.content
    with schema_context(acme.schema):
        audit = AuditEvent.objects.get(action="approval.approved")
    assert audit.actor_type == "api_key" and audit.actor_label.startswith("approvals:decide (bzs_")


def test_deciding_an_approval_past_its_time_expires_it_and_fails_the_run(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    run, _llm = paused_run(api, acme, crm, ask_agent(acme, crm))
    with schema_context(acme.schema):
        AgentApproval.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # the sweep has not run yet
    [item] = inbox(api, acme)["results"]

    response = api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("member"))

    assert response.status_code == 409 and response.json()["status"] == "expired"
    assert inbox(api, acme)["results"][0]["status"] == "expired"
    assert api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()["status"] == "failed"
    assert hubspot.upserts == []


def workflow_approval(org: Org, *, started_by=None):
    from apps.workflows.models import WorkflowApproval, WorkflowRun

    with schema_context(org.schema):
        run = WorkflowRun.objects.create(
            template="report",
            workflow_id=f"wf-{org.schema}-{uuid.uuid4().hex[:6]}",
            status=WorkflowRun.Status.WAITING_APPROVAL,
            created_by_id=started_by.pk if started_by else None,
        )
        return WorkflowApproval.objects.create(
            run=run, step="publish", preview={"title": "Weekly report"}, expires_at=timezone.now() + timedelta(days=1)
        )


def test_the_inbox_lists_agent_and_workflow_approvals_in_one_shape_and_counts_both(api, acme, hubspot):
    crm = acme.hubspot(hubspot)
    paused_run(api, acme, crm, ask_agent(acme, crm))
    waiting = workflow_approval(acme)

    page = inbox(api, acme, status="pending")

    assert page["count"] == 2
    assert [item["kind"] for item in page["results"]] == ["workflow", "agent"]  # newest first
    item = page["results"][0]
    assert item["id"] == str(waiting.pk) and item["title"] == "report: publish"
    assert item["proposed_input"] == {"title": "Weekly report"}
    assert item["workflow"] == {"run": waiting.run_id, "template": "report", "name": "report"}
    assert item["agent"] is None and item["status"] == "pending"
    assert set(item) == set(page["results"][1])
    assert api.get("/api/v1/approvals/count/", **acme.auth("viewer")).json() == {"pending": 2}
    assert inbox(api, acme, status="approved")["count"] == 0
    response = api.get("/api/v1/approvals/", {"status": "maybe"}, **acme.auth("viewer"))
    assert response.status_code == 400 and list(response.json()) == ["status"]


def test_approver_must_differ_also_refuses_the_starter_of_a_workflow_run(api, acme):
    waiting = workflow_approval(acme, started_by=acme.people["member"])
    api.patch("/api/v1/tenant/", {"approver_must_differ": True}, **acme.auth("owner"))

    refused = api.post(f"/api/v1/approvals/{waiting.pk}/approve/", {}, **acme.auth("member"))

    assert refused.status_code == 403
    assert "requires someone else to approve" in refused.json()["detail"]
    with schema_context(acme.schema):
        waiting.refresh_from_db()
    assert waiting.status == "pending"
    refused = api.post(f"/api/v1/workflows/approvals/{waiting.pk}/approve/", {}, **acme.auth("member"))
    assert refused.status_code == 403  # the workflows API's own decision endpoint too
    assert "requires someone else to approve" in refused.json()["detail"]


def test_the_inbox_answers_in_a_bounded_number_of_queries(api, acme, hubspot, django_assert_max_num_queries):
    crm = acme.hubspot(hubspot)
    agent = ask_agent(acme, crm)

    def fill(count: int) -> None:
        with schema_context(acme.schema):
            for _ in range(count):
                approvals.approval_request(
                    tenant=acme.tenant,
                    connection=crm,
                    action="upsert_contact",
                    proposed_input={"email": "a@b.co"},
                    reason="",
                    source="agent_run",
                    agent=agent,
                )
        for _ in range(count):
            workflow_approval(acme)

    fill(1)
    api.get("/api/v1/approvals/", **acme.auth("viewer"))  # warm the session caches
    with django_assert_max_num_queries(12) as few:
        assert inbox(api, acme)["count"] == 2
    fill(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert inbox(api, acme)["count"] == 22


# --- transactional tests last (they commit) ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_paused_run_is_resumed_by_a_fresh_worker_task_from_what_is_stored(api, hubspot, httpserver):
    """Nothing of the process that paused the run is needed: the task path (the real provider client against a
    loopback chat completions endpoint) picks it up from PostgreSQL."""
    from apps.agents import tasks

    acme = Org(f"resume-{uuid.uuid4().hex[:8]}")
    crm = acme.hubspot(hubspot)
    fake = FakeChatCompletions(httpserver, [upsert(crm, reason="Asked to."), final("Done: Ada added.")])
    provider = acme.provider(
        kind=LLMProvider.Kind.OPENAI_COMPATIBLE,
        base_url=fake.base_url,
        default_model="gpt-4o-mini",
        credentials={"api_key": "sk-compatible-key"},
    )
    agent = ask_agent(acme, crm, provider=provider)
    run = start(api, acme, agent, "Add Ada.")
    tasks.execute_run.run(acme.schema, run["id"])  # the worker that pauses it
    assert api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()["status"] == "waiting_approval"
    [item] = inbox(api, acme)["results"]
    api.post(f"/api/v1/approvals/{item['id']}/approve/", {}, **acme.auth("member"))

    tasks.execute_run.run(acme.schema, run["id"])  # another worker, after a restart

    body = api.get(f"/api/v1/runs/{run['id']}/", **acme.auth()).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Done: Ada added."
    assert [u["inputs"][0]["id"] for u in hubspot.upserts] == ["ada@example.com"]
    assert (body["prompt_tokens"], body["completion_tokens"]) == (820, 50)  # both parts of the run
    assert "ada@example.com" in json.dumps(fake.bodies[1]["messages"])
    tasks.execute_run.run(acme.schema, run["id"])  # a redelivered task: nothing is performed again
    assert len(hubspot.upserts) == 1
