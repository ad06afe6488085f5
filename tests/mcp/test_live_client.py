"""The official MCP Python client against the real gateway on a loopback port (pytest-django's live server, the
whole WSGI stack with its middleware), with provider fakes on loopback."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_revoke
from tests.mcp.conftest import Org, run_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    return Org("mcp-acme")


@pytest.fixture
def globex():
    return Org("mcp-globex")


def _metric(kind: str, outcome: str) -> float:
    from apps.mcp.tools import TOOL_CALLS

    return TOOL_CALLS.labels(kind=kind, outcome=outcome)._value.get()


def test_a_key_with_a_narrow_allow_list_sees_exactly_its_tools_and_reads_contacts_from_the_provider(
    live_server, acme, hubspot
):
    crm = acme.hubspot(hubspot, name="Sales CRM")
    acme.hubspot(hubspot, name="Support CRM")  # not granted: none of its tools may show
    _key, secret = acme.key([{"connection": crm.pk, "resources": ["contacts"]}])
    reads_before = _metric("read", "ok")

    async def body(session):
        listed = await session.list_tools()
        first = await session.call_tool("sales-crm__contacts", {"limit": 2})
        second = await session.call_tool(
            "sales-crm__contacts", {"limit": 2, "cursor": first.structuredContent["next_cursor"]}
        )
        return listed, first, second

    listed, first, second = run_client(f"{live_server.url}/mcp/", secret, body)

    assert [tool.name for tool in listed.tools] == ["sales-crm__contacts"]
    tool = listed.tools[0]
    assert tool.inputSchema["properties"].keys() == {"limit", "cursor"}  # contacts have no date window
    assert tool.annotations.readOnlyHint is True
    assert first.isError is False
    assert [r["email"] for r in first.structuredContent["records"]] == ["person1@example.com", "person2@example.com"]
    assert [r["email"] for r in second.structuredContent["records"]] == ["person3@example.com", "person4@example.com"]
    assert len(hubspot.requests_to("contacts")) == 2  # live from the provider, once a page
    assert _metric("read", "ok") == reads_before + 2
    with schema_context(acme.schema):
        calls = list(AuditEvent.objects.filter(action="mcp.tool_call").order_by("id"))
    assert [(c.actor_type, c.actor_label, c.object_id) for c in calls] == [
        ("api_key", f"Desktop (bzs_{_key.prefix})", str(crm.pk))
    ] * 2
    assert calls[0].changes["tool"] == "sales-crm__contacts" and calls[0].changes["outcome"] == "ok"
    assert calls[0].changes["arguments"] == ["limit"]  # argument names, never their values


def test_another_tenants_connection_is_neither_listed_nor_callable(live_server, acme, globex, hubspot):
    theirs = globex.hubspot(hubspot, name="Globex CRM")
    mine = acme.hubspot(hubspot, name="Acme CRM")
    assert theirs.pk == mine.pk  # ids are per schema: only the caller's schema is ever looked in
    _key, secret = acme.key([{"connection": mine.pk, "resources": ["deals"]}])

    async def body(session):
        return await session.list_tools(), await session.call_tool("globex-crm__contacts", {"limit": 1})

    listed, refused = run_client(f"{live_server.url}/mcp/", secret, body)

    assert [tool.name for tool in listed.tools] == ["acme-crm__deals"]
    assert refused.isError is True
    assert refused.content[0].text.startswith("Permission denied. There is no tool 'globex-crm__contacts'")
    assert hubspot.requests_to("contacts") == []  # nothing reached the provider


def test_a_revoked_key_is_refused_401_with_where_to_sign_in(live_server, acme, hubspot, settings):
    key, secret = acme.key([{"connection": acme.hubspot(hubspot).pk, "resources": ["contacts"]}])

    async def body(session):
        return [tool.name for tool in (await session.list_tools()).tools]

    assert run_client(f"{live_server.url}/mcp/", secret, body) == ["hubspot__contacts"]
    api_key_revoke(key=key, actor=Actor.for_user(acme.admin))

    response = httpx.post(
        f"{live_server.url}/mcp/",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{settings.GATEWAY_URL}/.well-known/oauth-protected-resource"'
    )
    with pytest.raises(BaseException) as refused:  # the client's task group re-raises the 401 as a group
        run_client(f"{live_server.url}/mcp/", secret, body)
    assert "401" in repr(refused.value) or "Unauthorized" in repr(refused.value)
    assert hubspot.requests_to("contacts") == []


def _approve_when_asked(org: Org, *, edit: dict | None = None, reject: str | None = None) -> threading.Thread:
    """Another person, on another thread: waits for the MCP call's approval to appear, then decides it."""
    from django.db import connection

    from apps.agents.approvals import approval_approve, approval_reject
    from apps.agents.models import AgentApproval

    def decide():
        try:
            with schema_context(org.schema):
                for _ in range(200):
                    approval = AgentApproval.objects.filter(status="pending").first()
                    if approval is not None:
                        break
                    time.sleep(0.05)
                else:
                    return
                actor = Actor.for_user(org.admin)
                if reject is not None:
                    approval_reject(tenant=org.tenant, actor=actor, approval=approval, comment=reject)
                else:
                    approval_approve(tenant=org.tenant, actor=actor, approval=approval, input=edit)
        finally:
            connection.close()

    thread = threading.Thread(target=decide)
    thread.start()
    return thread


def test_an_ask_action_waits_for_a_person_and_answers_the_approved_result(live_server, acme, hubspot, settings):
    from apps.agents.models import AgentApproval

    settings.MCP_APPROVAL_WAIT_SECONDS = 20
    crm = acme.hubspot(hubspot)
    grant = {"connection": crm.pk, "actions": ["upsert_contact"], "action_policies": {"upsert_contact": "ask"}}
    key, secret = acme.key([grant])
    decider = _approve_when_asked(acme, edit={"email": "ada@example.com", "first_name": "Ada L."})

    async def body(session):
        return await session.call_tool("hubspot__upsert_contact", {"email": "ada@example.com", "first_name": "Ada"})

    result = run_client(f"{live_server.url}/mcp/", secret, body)
    decider.join(timeout=30)

    assert result.isError is False, result.content[0].text
    assert result.structuredContent["status"] == "approved"
    assert result.structuredContent["result"]["id"] == "9001"
    assert result.structuredContent["input"] == {"email": "ada@example.com", "first_name": "Ada L."}
    # the provider received the edited input, once
    assert [u["inputs"][0]["properties"]["firstname"] for u in hubspot.upserts] == ["Ada L."]
    with schema_context(acme.schema):
        approval = AgentApproval.objects.get()
        performed = AuditEvent.objects.get(action="connection.action")
        call = AuditEvent.objects.get(action="mcp.tool_call")
    assert (approval.source, approval.status, approval.proposed_input) == (
        "mcp",
        "approved",
        {"email": "ada@example.com", "first_name": "Ada"},
    )
    assert (performed.actor_type, performed.actor_id) == ("api_key", str(key.pk))  # the caller, not the approver
    assert call.changes["outcome"] == "ok" and call.changes["approval_status"] == "approved"


def test_an_ask_action_not_decided_in_time_answers_the_pending_approval_and_a_rejection_sends_nothing(
    live_server, acme, hubspot, settings
):
    settings.MCP_APPROVAL_WAIT_SECONDS = 0.5
    crm = acme.hubspot(hubspot)
    grant = {"connection": crm.pk, "actions": ["upsert_contact"], "action_policies": {"upsert_contact": "ask"}}
    _key, secret = acme.key([grant])

    async def one(session):
        return await session.call_tool("hubspot__upsert_contact", {"email": "bob@example.com"})

    waiting = run_client(f"{live_server.url}/mcp/", secret, one)
    assert waiting.isError is False
    assert waiting.structuredContent["status"] == "pending" and waiting.structuredContent["approval_id"]
    assert waiting.content[0].text.count("Waiting for approval") == 1
    assert hubspot.upserts == []

    settings.MCP_APPROVAL_WAIT_SECONDS = 20
    from apps.agents.models import AgentApproval

    with schema_context(acme.schema):
        AgentApproval.objects.update(status="expired")  # the first one is out of the way
    decider = _approve_when_asked(acme, reject="Not this one.")
    rejected = run_client(f"{live_server.url}/mcp/", secret, one)
    decider.join(timeout=30)
    assert rejected.isError is True
    assert rejected.structuredContent is None
    assert "Rejected by a person; nothing was done. Not this one." in rejected.content[0].text
    assert hubspot.upserts == []
