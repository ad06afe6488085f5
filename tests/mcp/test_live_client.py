"""The official MCP Python client against the real gateway on a loopback port (pytest-django's live server, the
whole WSGI stack with its middleware), with provider fakes on loopback."""

from __future__ import annotations

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
