"""`/mcp/` through the gateway's middleware with Django's test client: the transport's rules (methods, Origin,
protocol version, content types, JSON-RPC errors, the body cap), who may call, and tool calls' checks."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.accounts.audit.models import AuditEvent
from apps.accounts.models import ApiKey
from tests.mcp.conftest import Org

ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def acme(db):
    return Org("mcps-acme")


@pytest.fixture
def globex(db):
    return Org("mcps-globex")


def rpc(secret: str | None, method: str, params: dict | None = None, *, id=1, **headers):
    message = {"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})}
    if id is not None:
        message["id"] = id
    extra = {"HTTP_ACCEPT": ACCEPT, **headers}
    if secret:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return Client(HTTP_HOST="localhost").post("/mcp/", json.dumps(message), content_type="application/json", **extra)


def call(secret: str, name: str, arguments: dict) -> dict:
    response = rpc(secret, "tools/call", {"name": name, "arguments": arguments})
    assert response.status_code == 200, response.content
    return response.json()["result"]


# --- the transport ------------------------------------------------------------------------------------------


def test_initialize_negotiates_the_version_and_declares_tools_only(acme):
    _key, secret = acme.key()
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}

    response = rpc(secret, "initialize", params)

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    result = response.json()["result"]
    assert response.json()["id"] == 1
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "bizosaas"
    unknown = rpc(secret, "initialize", {**params, "protocolVersion": "1999-01-01"}).json()["result"]
    assert unknown["protocolVersion"] == "2025-11-25"  # the latest the server speaks


def test_get_answers_405_and_notifications_202_without_a_body(acme):
    _key, secret = acme.key()
    response = Client(HTTP_HOST="localhost").get("/mcp/", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT=ACCEPT)
    assert response.status_code == 405 and response["Allow"] == "POST"

    notified = rpc(secret, "notifications/initialized", id=None)
    assert notified.status_code == 202 and notified.content == b""
    assert rpc(secret, "ping").json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_an_origin_that_is_not_ours_is_refused_403_and_ours_is_served(acme, settings):
    _key, secret = acme.key()
    settings.PORTAL_URL = "https://app.example.com"
    assert rpc(secret, "ping", HTTP_ORIGIN="https://evil.example").status_code == 403
    assert rpc(secret, "ping", HTTP_ORIGIN="https://app.example.com").status_code == 200


def test_an_unsupported_protocol_version_header_is_400_and_a_supported_one_is_served(acme):
    _key, secret = acme.key()
    refused = rpc(secret, "ping", HTTP_MCP_PROTOCOL_VERSION="2030-01-01")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("Unsupported MCP-Protocol-Version '2030-01-01'")
    assert rpc(secret, "ping", HTTP_MCP_PROTOCOL_VERSION="2025-11-25").status_code == 200


def test_malformed_messages_answer_json_rpc_errors_never_500(acme):
    _key, secret = acme.key()
    client = Client(HTTP_HOST="localhost")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}", "HTTP_ACCEPT": ACCEPT}

    parse = client.post("/mcp/", "{not json", content_type="application/json", **auth)
    assert parse.status_code == 400 and parse.json()["error"]["code"] == -32700
    batch = client.post("/mcp/", "[]", content_type="application/json", **auth)
    assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
    not_rpc = client.post("/mcp/", json.dumps({"hello": 1}), content_type="application/json", **auth)
    assert not_rpc.status_code == 400 and not_rpc.json()["error"]["code"] == -32600
    text = client.post("/mcp/", "x", content_type="text/plain", **auth)
    assert text.status_code == 415
    xml_only = rpc(secret, "ping", HTTP_ACCEPT="application/xml")
    assert xml_only.status_code == 406

    unknown = rpc(secret, "resources/list").json()
    assert unknown["error"] == {"code": -32601, "message": "Method not found: resources/list"}
    bad_params = rpc(secret, "tools/call", {"arguments": {}}).json()
    assert bad_params["error"]["code"] == -32602 and "name" in bad_params["error"]["message"]


def test_a_body_over_the_cap_answers_413_before_it_is_read(acme, settings):
    _key, secret = acme.key()
    big = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * settings.API_MAX_BODY_BYTES}}
    )
    response = Client(HTTP_HOST="localhost").post(
        "/mcp/", big, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT=ACCEPT
    )
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


# --- who may call -------------------------------------------------------------------------------------------


def test_without_a_key_or_with_a_key_lacking_the_mcp_scope_the_answer_is_401_pointing_at_sign_in(acme, settings):
    _key, other = acme.key(scopes=["connections:read"], name="Reporting")
    for secret in (None, other, "bzs_nothing_here", "not-an-api-key"):
        response = rpc(secret, "tools/list")
        assert response.status_code == 401, secret
        assert response["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{settings.GATEWAY_URL}/.well-known/oauth-protected-resource"'
        )


def test_an_expired_key_is_refused_401(acme):
    from datetime import timedelta

    from django.utils import timezone

    key, secret = acme.key()
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert rpc(secret, "tools/list").status_code == 401


def test_a_registered_bearer_authenticator_admits_its_tokens(acme, hubspot):
    from apps.mcp import auth

    crm = acme.hubspot(hubspot)

    def oauth(request):
        if request.META.get("HTTP_AUTHORIZATION") == "Bearer oauth-token-1":
            grants = [{"connection": crm.pk, "resources": ["deals"]}]
            return auth.McpPrincipal(tenant=acme.tenant, actor_label="Claude (OAuth)", grants=grants)
        return None

    auth.register_bearer_authenticator(oauth)
    try:
        listed = rpc("oauth-token-1", "tools/list").json()["result"]["tools"]
        assert [tool["name"] for tool in listed] == ["hubspot__deals"]
        assert rpc("oauth-token-2", "tools/list").status_code == 401
    finally:
        auth._authenticators.remove(oauth)


# --- tool calls ---------------------------------------------------------------------------------------------


def test_a_key_with_no_tools_lists_none_and_names_are_readable_unique_and_bounded(acme, hubspot):
    from apps.mcp.tools import NAME_MAX

    a = acme.hubspot(hubspot, name="Ünïcode CRM / EU")
    b = acme.hubspot(hubspot, name="unicode crm eu")  # the same slug: the later one carries its id
    c = acme.hubspot(hubspot, name="A" * 100)
    _none, empty = acme.key(name="empty")
    assert rpc(empty, "tools/list").json()["result"]["tools"] == []

    grants = [{"connection": x.pk, "resources": ["contacts"], "actions": ["upsert_contact"]} for x in (a, b, c)]
    _key, secret = acme.key(grants)
    names = [tool["name"] for tool in rpc(secret, "tools/list").json()["result"]["tools"]]

    assert names[:4] == [
        "unicode-crm-eu__contacts",
        "unicode-crm-eu__upsert_contact",
        f"unicode-crm-eu-{b.pk}__contacts",
        f"unicode-crm-eu-{b.pk}__upsert_contact",
    ]
    assert all(len(name) <= NAME_MAX for name in names) and len(set(names)) == 6
    assert names[4] == "a" * (NAME_MAX - len("__contacts")) + "__contacts"


def test_an_action_tool_carries_the_actions_input_schema_and_validates_arguments(acme, hubspot):
    crm = acme.hubspot(hubspot)
    _key, secret = acme.key([{"connection": crm.pk, "actions": ["upsert_contact"]}])

    (tool,) = rpc(secret, "tools/list").json()["result"]["tools"]
    assert tool["name"] == "hubspot__upsert_contact"
    assert tool["inputSchema"]["required"] == ["email"]
    assert tool["inputSchema"]["additionalProperties"] is False
    assert tool["inputSchema"]["properties"]["email"]["format"] == "email"
    assert tool["annotations"]["destructiveHint"] is True

    refused = call(secret, "hubspot__upsert_contact", {"first_name": "Ada", "colour": "red"})
    assert refused["isError"] is True
    assert refused["content"][0]["text"] == (
        "Invalid arguments. colour: Unknown field.; email: This field is required."
    )
    assert hubspot.upserts == []  # nothing was sent

    done = call(secret, "hubspot__upsert_contact", {"email": "ada@example.com", "first_name": "Ada"})
    assert done["isError"] is False
    assert done["structuredContent"]["id"] == "9001"
    assert [u["inputs"][0]["id"] for u in hubspot.upserts] == ["ada@example.com"]
    with schema_context(acme.schema):
        performed = AuditEvent.objects.get(action="connection.action")
    assert performed.actor_type == "api_key" and performed.changes["action"] == "upsert_contact"


def test_grants_are_read_again_at_call_time(acme, hubspot):
    from apps.accounts.audit.services import Actor
    from apps.accounts.services import api_key_update

    crm = acme.hubspot(hubspot)
    key, secret = acme.key([{"connection": crm.pk, "resources": ["contacts"]}])
    assert call(secret, "hubspot__contacts", {"limit": 1})["isError"] is False

    api_key_update(
        key=key, actor=Actor.for_user(acme.admin), mcp_tools=[{"connection": crm.pk, "resources": ["deals"]}]
    )

    refused = call(secret, "hubspot__contacts", {"limit": 1})
    assert refused["isError"] is True and refused["content"][0]["text"].startswith("Permission denied.")
    assert len(hubspot.requests_to("contacts")) == 1


def test_a_read_with_a_date_window_on_a_resource_without_one_is_an_invalid_argument(acme, hubspot):
    crm = acme.hubspot(hubspot)
    _key, secret = acme.key([{"connection": crm.pk, "resources": ["contacts"]}])
    refused = call(secret, "hubspot__contacts", {"since": "2026-01-01", "limit": 500})
    assert refused["isError"] is True
    assert refused["content"][0]["text"] == (
        "Invalid arguments. limit: 500 is greater than the maximum of 50; since: Unknown field."
    )


def test_over_the_tenants_api_quota_a_call_answers_429_with_retry_after(acme, hubspot):
    from apps.accounts.models import TenantQuota

    TenantQuota.objects.update_or_create(tenant=acme.tenant, defaults={"api_key_requests_per_minute": 1})
    _key, secret = acme.key()
    assert rpc(secret, "ping").status_code == 200
    refused = rpc(secret, "ping")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "quota reached" in refused.json()["error"]["message"]


# --- editing a key's tools through the API keys API -----------------------------------------------------------


def test_the_api_keys_api_sets_mcp_tools_with_field_level_errors(api, acme, globex, hubspot):
    crm = acme.hubspot(hubspot)
    theirs = globex.hubspot(hubspot, name="Theirs")
    with schema_context(globex.schema):
        from apps.connectors.models import Connection

        # an id that exists only in globex's schema
        Connection.objects.filter(pk=theirs.pk).update(name="Theirs")
        for _ in range(3):
            Connection.objects.create(provider="hubspot", name="more", config={"api_base_url": hubspot.base_url})
    foreign_id = theirs.pk + 3

    created = api.post(
        "/api/v1/api-keys/",
        {"name": "Claude", "scopes": ["mcp"], "mcp_tools": [{"connection": crm.pk, "resources": ["contacts"]}]},
        **acme.auth(),
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["mcp_tools"] == [{"connection": crm.pk, "resources": ["contacts"], "actions": []}]
    key_id = body["id"]

    bad = api.patch(
        f"/api/v1/api-keys/{key_id}/",
        {
            "mcp_tools": [
                {"connection": crm.pk, "resources": ["contacts", "tickets"], "actions": ["explode"]},
                {"connection": foreign_id, "resources": ["contacts"]},
                {"agents": [12345]},
                {"connection": crm.pk, "actions": ["upsert_contact"], "action_policies": {"upsert_contact": "maybe"}},
            ]
        },
        **acme.auth(),
    )
    assert bad.status_code == 400
    errors = bad.json()
    assert errors["mcp_tools.0.resources.1"] == ["HubSpot has no resource 'tickets'; it offers: contacts, deals."]
    assert errors["mcp_tools.0.actions.0"][0].startswith("HubSpot has no action 'explode';")
    assert errors["mcp_tools.1.connection"] == ["No such connection in this tenant."]
    assert errors["mcp_tools.2.agents.0"] == ["No such agent in this tenant."]
    assert errors["mcp_tools.3.connection"] == ["This connection is listed twice."]

    ok = api.patch(
        f"/api/v1/api-keys/{key_id}/",
        {
            "mcp_tools": [
                {"connection": crm.pk, "actions": ["upsert_contact"], "action_policies": {"upsert_contact": "ask"}}
            ]
        },
        **acme.auth(),
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["mcp_tools"] == [
        {
            "connection": crm.pk,
            "resources": [],
            "actions": ["upsert_contact"],
            "action_policies": {"upsert_contact": "ask"},
        }
    ]
    with schema_context(acme.schema):
        assert AuditEvent.objects.filter(action="api_key.updated", object_id=str(key_id)).count() == 1

    no_scope = api.post(
        "/api/v1/api-keys/",
        {"name": "R", "scopes": ["connections:read"], "mcp_tools": [{"connection": crm.pk, "resources": ["contacts"]}]},
        **acme.auth(),
    )
    assert no_scope.status_code == 400 and no_scope.json()["mcp_tools"] == [
        "Only a key with the 'mcp' scope has MCP tools."
    ]


def test_the_mcp_overview_shows_the_server_url_what_may_be_granted_and_each_keys_tools(api, acme, hubspot, settings):
    crm = acme.hubspot(hubspot)
    key, _secret = acme.key([{"connection": crm.pk, "resources": ["contacts", "deals"]}])
    acme.key(scopes=["connections:read"], name="Not MCP")

    body = api.get("/api/v1/mcp/", **acme.auth()).json()

    assert body["server_url"] == f"{settings.GATEWAY_URL}/mcp/"
    (connection,) = body["connections"]
    assert (connection["id"], connection["provider_name"]) == (crm.pk, "HubSpot")
    assert [r["name"] for r in connection["resources"]] == ["contacts", "deals"]
    assert body["keys"] == [{"id": key.pk, "tools": ["hubspot__contacts", "hubspot__deals"]}]
    assert (body["collections"], body["agents"], body["workflows"]) == ([], [], [])


def test_an_agent_tool_starts_a_run_counted_against_the_tenants_runs_and_answers_its_id_and_status(acme, settings):
    from apps.accounts.models import TenantQuota
    from apps.agents.models import Agent, AgentRun, LLMProvider

    settings.MCP_AGENT_WAIT_SECONDS = 0.3
    with schema_context(acme.schema):
        provider = LLMProvider.objects.create(
            name="OpenAI", kind="openai", default_model="gpt-4o-mini", credentials={"api_key": "sk-test"}
        )
        agent = Agent.objects.create(name="Sales assistant", role="Sales", goal="Keep the CRM tidy", provider=provider)
    _key, secret = acme.key([{"agents": [agent.pk]}])

    (tool,) = rpc(secret, "tools/list").json()["result"]["tools"]
    assert tool["name"] == "run_agent__sales-assistant"
    result = call(secret, "run_agent__sales-assistant", {"input": "Tidy the CRM."})

    assert result["isError"] is False
    with schema_context(acme.schema):
        run = AgentRun.objects.get()
    assert (run.source, run.input, run.status) == ("mcp", "Tidy the CRM.", "queued")
    assert result["structuredContent"]["run_id"] == run.pk
    assert result["structuredContent"]["status"] == "queued"

    TenantQuota.objects.update_or_create(tenant=acme.tenant, defaults={"agent_runs_per_day": 1})
    refused = call(secret, "run_agent__sales-assistant", {"input": "Again."})
    assert refused["isError"] is True
    assert refused["content"][0]["text"].startswith("Agent runs per day quota reached: 1 of 1")
    with schema_context(acme.schema):
        assert AgentRun.objects.count() == 1  # nothing recorded over the quota


def test_a_workflow_tool_starts_the_configured_workflow(acme, hubspot):
    import asyncio

    from apps.workflows.models import WorkflowConfig, WorkflowRun
    from tests.workflows.test_configs import terminate

    crm = acme.hubspot(hubspot)
    with schema_context(acme.schema):
        config = WorkflowConfig.objects.create(
            name="Nightly sync", template="connection_sync", parameters={"connection": crm.pk, "resource": "contacts"}
        )
    _key, secret = acme.key([{"workflows": [config.pk]}])

    result = call(secret, "start_workflow__nightly-sync", {})

    assert result["isError"] is False, result["content"][0]["text"]
    with schema_context(acme.schema):
        run = WorkflowRun.objects.get()
    assert (run.config_id, run.trigger) == (config.pk, "api")
    assert result["structuredContent"] == {"run_id": run.pk, "workflow_id": run.workflow_id, "status": "running"}
    asyncio.run(terminate(run.workflow_id))


def test_a_tenants_waiting_calls_are_bounded_and_over_the_bound_answer_at_once(acme, settings):
    from apps.mcp.tools import wait_slot

    settings.MCP_WAITS_PER_TENANT = 1
    first, seconds = wait_slot(acme.schema, 5.0)
    with first:
        assert seconds == 5.0
        second, more = wait_slot(acme.schema, 5.0)
        assert more == 0.0  # the tenant's one place is taken: this call does not wait
        second.close()
        other, theirs = wait_slot("some_other_schema", 5.0)
        assert theirs == 5.0  # another tenant's calls are not held back
        other.close()
    again, seconds = wait_slot(acme.schema, 5.0)
    assert seconds == 5.0
    again.close()


def test_knowledge_search_covers_only_the_granted_collections(acme):
    from tests.agents.test_agent_knowledge import POLICY, ingested_collection

    returns = ingested_collection(acme, "Returns", POLICY)
    ingested_collection(acme, "Secret", b"# Pricing\n\nOur margin on returns is forty percent.")
    _key, secret = acme.key([{"collections": [returns.pk]}])

    (tool,) = rpc(secret, "tools/list").json()["result"]["tools"]
    assert tool["name"] == "search_knowledge" and tool["annotations"]["readOnlyHint"] is True
    result = call(secret, "search_knowledge", {"query": "how long can customers return items", "limit": 5})

    assert result["isError"] is False
    hits = result["structuredContent"]["results"]
    assert hits and {hit["document"] for hit in hits} == {"Returns handbook"}
    assert "45 days" in hits[0]["excerpt"]
