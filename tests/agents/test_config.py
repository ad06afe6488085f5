"""Agent configuration: LLM providers (kind-specific validation, secrets, live test), agents, tool grants, templates,
RBAC and tenant isolation through the API; the LLM client against loopback fakes of the OpenAI and Anthropic
contracts (https://platform.openai.com/docs/api-reference/chat, https://docs.anthropic.com/en/api/messages)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.db import connection as db
from django_tenants.utils import schema_context
from werkzeug import Response

from apps.accounts.audit.models import AuditEvent
from apps.agents import llm_client
from apps.agents.models import Agent, AgentRun, KnowledgeCollection, LLMProvider, ToolGrant
from apps.connectors.exceptions import (
    AuthenticationError,
    ProviderUnavailableError,
    RateLimitedError,
)
from apps.connectors.models import Connection
from tests.factories import bearer, make_member, make_tenant

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")
SECRET = "sk-test-Zq81VERYSECRETkey"


class Org:
    def __init__(self, slug: str):
        self.tenant = make_tenant(slug=slug)
        self.people = {role: make_member(self.tenant, role, email=f"{role}@{slug}.test") for role in ROLES}

    def auth(self, role: str = "admin") -> dict:
        return bearer(self.people[role], self.tenant)

    def connection(self, provider: str, name: str | None = None) -> Connection:
        with schema_context(self.tenant.schema_name):
            return Connection.objects.create(
                provider=provider, name=name or provider, config={}, credentials={}, status=Connection.Status.ACTIVE
            )

    def count(self, model) -> int:
        with schema_context(self.tenant.schema_name):
            return model.objects.count()

    def audit_actions(self) -> list[str]:
        with schema_context(self.tenant.schema_name):
            return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


@pytest.fixture
def acme():
    return Org("acme")


@pytest.fixture
def globex():
    return Org("globex")


def put(api, path: str, body: dict, **auth):
    return api.client.put(path, json.dumps(body), content_type="application/json", **auth)


def make_provider(api, org: Org, **overrides) -> dict:
    body = {"name": "OpenAI", "kind": "openai", "default_model": "gpt-4o-mini", "api_key": SECRET, **overrides}
    response = api.post("/api/v1/llm-providers/", body, **org.auth())
    assert response.status_code == 201, response.content
    return response.json()


def make_agent(api, org: Org, **overrides) -> dict:
    body = {"name": "Writer", "role": "Copywriter", "goal": "Write good copy.", **overrides}
    response = api.post("/api/v1/agents/", body, **org.auth())
    assert response.status_code == 201, response.content
    return response.json()


# --- providers -----------------------------------------------------------------------------------------------


def test_provider_validation_is_kind_specific_and_creates_nothing(api, acme):
    auth = acme.auth()

    no_key = api.post("/api/v1/llm-providers/", {"name": "OpenAI", "kind": "openai", "default_model": "gpt-4o"}, **auth)
    azure = api.post(
        "/api/v1/llm-providers/", {"name": "Azure", "kind": "azure_openai", "default_model": "prod"}, **auth
    )
    plain_http = api.post(
        "/api/v1/llm-providers/",
        {"name": "Gateway", "kind": "openai_compatible", "default_model": "m", "base_url": "http://llm.example.com"},
        **auth,
    )
    ollama = api.post(
        "/api/v1/llm-providers/", {"name": "Local", "kind": "ollama", "default_model": "llama3.1"}, **auth
    )

    assert no_key.status_code == 400 and set(no_key.json()) == {"api_key"}
    assert azure.status_code == 400 and set(azure.json()) == {"base_url", "api_key", "api_version"}
    assert plain_http.status_code == 400 and "https" in plain_http.json()["base_url"][0]
    assert ollama.status_code == 400 and set(ollama.json()) == {"base_url"}
    assert acme.count(LLMProvider) == 0
    # http is fine for a local Ollama server and for loopback, and Ollama needs no key
    make_provider(api, acme, name="Local", kind="ollama", base_url="http://ollama:11434", api_key="")
    make_provider(api, acme, name="Fake", kind="openai_compatible", base_url="http://127.0.0.1:9/v1", api_key="")
    assert acme.count(LLMProvider) == 2


def test_api_keys_are_never_returned_and_encrypted_in_the_row(api, acme):
    created = make_provider(api, acme)

    assert created["api_key_set"] is True and "api_key" not in created
    assert SECRET not in json.dumps(created)
    for path in ("/api/v1/llm-providers/", f"/api/v1/llm-providers/{created['id']}/"):
        response = api.get(path, **acme.auth("viewer"))
        assert response.status_code == 200 and SECRET not in response.content.decode()
    with schema_context(acme.tenant.schema_name), db.cursor() as cursor:
        cursor.execute("SELECT credentials::text FROM agents_llmprovider")
        stored = cursor.fetchone()[0]
    assert SECRET not in stored and "gAAAA" in stored  # a Fernet token

    renamed = api.patch(f"/api/v1/llm-providers/{created['id']}/", {"name": "Main OpenAI"}, **acme.auth())
    assert renamed.status_code == 200 and renamed.json()["api_key_set"] is True  # an omitted key is kept
    with schema_context(acme.tenant.schema_name):
        assert LLMProvider.objects.get().credentials == {"api_key": SECRET}
    cleared = api.patch(f"/api/v1/llm-providers/{created['id']}/", {"api_key": ""}, **acme.auth())
    assert cleared.status_code == 400 and set(cleared.json()) == {"api_key"}  # OpenAI cannot do without one
    assert acme.audit_actions() == ["llm_provider.created", "llm_provider.updated"]
    with schema_context(acme.tenant.schema_name):
        assert SECRET not in str(list(AuditEvent.objects.values("changes")))


def test_deleting_a_provider_used_by_agents_names_them(api, acme):
    provider = make_provider(api, acme)
    make_agent(api, acme, name="Strategist", provider=provider["id"])
    make_agent(api, acme, name="Analyst", provider=provider["id"])

    refused = api.delete(f"/api/v1/llm-providers/{provider['id']}/", **acme.auth())

    assert refused.status_code == 400
    assert "Analyst, Strategist" in refused.json()["agents"][0]
    assert acme.count(LLMProvider) == 1
    for agent in api.get("/api/v1/agents/", **acme.auth()).json()["results"]:
        assert api.patch(f"/api/v1/agents/{agent['id']}/", {"provider": None}, **acme.auth()).status_code == 200
    assert api.delete(f"/api/v1/llm-providers/{provider['id']}/", **acme.auth()).status_code == 204
    assert acme.count(LLMProvider) == 0


def test_provider_test_against_a_loopback_openai_compatible_server(api, acme, httpserver):
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "p"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }
    httpserver.expect_request(
        "/v1/chat/completions", method="POST", headers={"Authorization": "Bearer good-key"}
    ).respond_with_json(completion)
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(
        {"error": {"message": "Invalid API key provided.", "type": "invalid_request_error"}}, status=401
    )
    base = {"kind": "openai_compatible", "default_model": "fake-model", "base_url": httpserver.url_for("/v1")}
    good = make_provider(api, acme, name="Good", api_key="good-key", **base)
    bad = make_provider(api, acme, name="Bad", api_key="stale-key", **base)

    ok = api.post(f"/api/v1/llm-providers/{good['id']}/test/", **acme.auth())
    failed = api.post(f"/api/v1/llm-providers/{bad['id']}/test/", **acme.auth())

    assert ok.status_code == 200 and ok.json()["ok"] is True and ok.json()["error"] == ""
    assert failed.status_code == 200 and failed.json()["ok"] is False
    assert "Invalid API key provided." in failed.json()["error"]
    sent = httpserver.log[0][0].get_json()
    assert sent["model"] == "fake-model" and sent["max_tokens"] == 1
    assert api.get(f"/api/v1/llm-providers/{good['id']}/", **acme.auth("viewer")).json()["last_test_ok"] is True
    recorded = api.get(f"/api/v1/llm-providers/{bad['id']}/", **acme.auth("viewer")).json()
    assert recorded["last_test_ok"] is False and "Invalid API key provided." in recorded["last_test_error"]
    assert recorded["last_tested_at"] is not None
    # changing the key makes the old result meaningless
    rekeyed = api.patch(f"/api/v1/llm-providers/{bad['id']}/", {"api_key": "good-key"}, **acme.auth()).json()
    assert rekeyed["last_test_ok"] is None
    assert api.post(f"/api/v1/llm-providers/{bad['id']}/test/", **acme.auth()).json()["ok"] is True


def test_a_stored_key_is_never_sent_to_a_new_address(api, acme, httpserver):
    """Re-pointing a provider (kind or base URL) needs its key again: otherwise whoever may edit it could send the
    stored key to a host of their own with the next test."""
    original = httpserver.url_for("/v1")
    provider = make_provider(
        api, acme, name="Proxy", kind="openai_compatible", base_url=original, api_key=SECRET, default_model="m"
    )
    path = f"/api/v1/llm-providers/{provider['id']}/"

    elsewhere = "http://127.0.0.2:9/v1"
    for change in ({"base_url": elsewhere}, {"kind": "ollama"}, {"kind": "azure_openai", "api_version": "2024-10-21"}):
        refused = api.patch(path, change, **acme.auth())
        assert refused.status_code == 400, (change, refused.content)
        assert set(refused.json()) == {"api_key"} and "again" in refused.json()["api_key"][0]
    with schema_context(acme.tenant.schema_name):
        stored = LLMProvider.objects.get()
    assert (stored.base_url, stored.kind, stored.credentials) == (original, "openai_compatible", {"api_key": SECRET})

    # the same origin (another path, a trailing slash) is not a new address; a new one with the key is fine
    assert api.patch(path, {"base_url": original + "/"}, **acme.auth()).status_code == 200
    assert api.patch(path, {"base_url": httpserver.url_for("/other/v1")}, **acme.auth()).status_code == 200
    moved = api.patch(path, {"base_url": elsewhere, "api_key": "new-key"}, **acme.auth())
    assert moved.status_code == 200 and moved.json()["api_key_set"] is True
    dropped = api.patch(path, {"base_url": original, "api_key": ""}, **acme.auth())
    assert dropped.status_code == 200 and dropped.json()["api_key_set"] is False
    assert httpserver.log == []  # nothing was sent anywhere while editing


# --- agents --------------------------------------------------------------------------------------------------


def test_agent_validation_reports_every_field(api, acme):
    body = {
        "name": "",
        "role": "Analyst",
        "goal": "Find trends.",
        "temperature": 2.5,
        "max_iterations": 51,
        "max_execution_time": 4,
        "provider": 999,
        "collections": [777],
    }

    response = api.post("/api/v1/agents/", body, **acme.auth())
    hot = api.post("/api/v1/agents/", {"name": "A", "role": "R", "goal": "G", "temperature": 2.5}, **acme.auth())

    assert response.status_code == 400
    assert set(response.json()) == {
        "name",
        "temperature",
        "max_iterations",
        "max_execution_time",
        "provider",
        "collections",
    }
    assert "777" in response.json()["collections"][0]
    assert hot.status_code == 400 and set(hot.json()) == {"temperature"}
    assert acme.count(Agent) == 0


def test_agents_are_edited_and_reported_with_provider_grants_and_collections(api, acme, django_assert_max_num_queries):
    provider = make_provider(api, acme)
    agent = make_agent(api, acme, provider=provider["id"], temperature=0.2)
    assert agent["temperature"] == 0.2 and agent["effective_model"] == "gpt-4o-mini"

    edited = api.patch(
        f"/api/v1/agents/{agent['id']}/",
        {"backstory": "Ten years at an agency.", "temperature": 1.5, "model": "gpt-4o", "enabled": False},
        **acme.auth(),
    )

    assert edited.status_code == 200, edited.content
    body = edited.json()
    assert body["backstory"] == "Ten years at an agency." and body["temperature"] == 1.5
    assert body["effective_model"] == "gpt-4o" and body["enabled"] is False
    assert body["provider_name"] == "OpenAI" and body["grants"] == [] and body["collections"] == []
    with schema_context(acme.tenant.schema_name):
        assert Agent.objects.get().temperature == Decimal("1.50")
    with schema_context(acme.tenant.schema_name):
        voice = KnowledgeCollection.objects.create(name="Brand voice")
    shop = acme.connection("shopify")
    for n in range(3):
        extra = make_agent(api, acme, name=f"Extra {n}", provider=provider["id"], collections=[voice.pk])
        grants = {"grants": [{"connection": shop.pk, "resources": ["orders"]}]}
        assert put(api, f"/api/v1/agents/{extra['id']}/tools/", grants, **acme.auth()).status_code == 200
    viewer = acme.auth("viewer")
    with django_assert_max_num_queries(10):  # none per agent
        listed = api.get("/api/v1/agents/", **viewer)
    assert listed.json()["count"] == 4
    extra = listed.json()["results"][0]
    assert extra["name"] == "Extra 0" and extra["collections"] == [{"id": voice.pk, "name": "Brand voice"}]
    assert extra["grants"][0]["resources"] == ["orders"] and extra["grants"][0]["provider_name"] == "Shopify"
    assert extra["last_run"] is None  # never ran
    with schema_context(acme.tenant.schema_name):
        run = AgentRun.objects.create(agent_id=extra["id"], input="hi", status=AgentRun.Status.SUCCEEDED)
    with django_assert_max_num_queries(10):  # still none per agent
        listed = api.get("/api/v1/agents/", **viewer)
    last = listed.json()["results"][0]["last_run"]
    assert (last["id"], last["status"]) == (run.pk, "succeeded")
    assert api.delete(f"/api/v1/agents/{agent['id']}/", **acme.auth()).status_code == 204
    actions = acme.audit_actions()
    assert actions.count("agent.created") == 4
    assert "agent.updated" in actions and actions[-1] == "agent.deleted"


# --- tool grants ---------------------------------------------------------------------------------------------


def test_tool_grants_replace_and_show_in_the_portal_checklist(api, acme):
    shop = acme.connection("shopify", "Store")
    crm = acme.connection("hubspot", "CRM")
    agent = make_agent(api, acme)
    path = f"/api/v1/agents/{agent['id']}/tools/"

    first = put(
        api,
        path,
        {"grants": [{"connection": shop.pk, "resources": ["orders", "products"], "actions": ["update_order_tags"]}]},
        **acme.auth(),
    )
    second = put(
        api, path, {"grants": [{"connection": crm.pk, "resources": ["contacts"], "actions": []}]}, **acme.auth()
    )

    assert first.status_code == 200, first.content
    assert second.status_code == 200
    assert api.get(path, **acme.auth("viewer")).json() == {
        "grants": [
            {
                "connection": crm.pk,
                "connection_name": "CRM",
                "provider": "hubspot",
                "provider_name": "HubSpot",
                "resources": ["contacts"],
                "actions": [],
                "action_policies": {},
                "allow_unattended_from_rules": False,
            }
        ]
    }
    detail = api.get(f"/api/v1/agents/{agent['id']}/", **acme.auth("viewer")).json()
    assert [g["connection"] for g in detail["grants"]] == [crm.pk]
    checklist = api.get(f"/api/v1/agents/{agent['id']}/available-tools/", **acme.auth("viewer")).json()
    by_name = {item["connection"]["name"]: item for item in checklist}
    assert {r["name"]: r["granted"] for r in by_name["CRM"]["resources"]} == {"contacts": True, "deals": False}
    assert {a["name"]: a["granted"] for a in by_name["CRM"]["actions"]} == {"upsert_contact": False}
    assert not any(r["granted"] for r in by_name["Store"]["resources"])
    assert acme.audit_actions().count("agent.tools_updated") == 2


def test_a_grant_for_something_the_connector_lacks_is_refused_with_its_path(api, acme):
    shop = acme.connection("shopify", "Store")
    agent = make_agent(api, acme)
    path = f"/api/v1/agents/{agent['id']}/tools/"
    assert (
        put(api, path, {"grants": [{"connection": shop.pk, "resources": ["orders"]}]}, **acme.auth()).status_code == 200
    )

    response = put(
        api,
        path,
        {
            "grants": [
                {"connection": shop.pk, "resources": ["orders", "payouts"], "actions": ["update_order_tags", "refund"]}
            ]
        },
        **acme.auth(),
    )

    assert response.status_code == 400
    assert set(response.json()) == {"grants.0.resources.1", "grants.0.actions.1"}
    assert "Shopify has no action 'refund'" in response.json()["grants.0.actions.1"][0]
    with schema_context(acme.tenant.schema_name):  # the previous grants are untouched
        assert list(ToolGrant.objects.values_list("resources", "actions")) == [(["orders"], [])]


def test_a_grant_naming_another_tenants_connection_is_refused(api, acme, globex):
    acme.connection("shopify", "Acme store")
    theirs = acme.connection("hubspot", "Acme CRM")  # id 2 in acme's schema
    globex.connection("wordpress", "Globex blog")  # id 1 in globex's schema
    agent = make_agent(api, globex)

    response = put(
        api,
        f"/api/v1/agents/{agent['id']}/tools/",
        {"grants": [{"connection": theirs.pk, "resources": ["contacts"]}]},
        **globex.auth(),
    )

    assert response.status_code == 400
    assert response.json() == {"grants.0.connection": ["No such connection in this tenant."]}
    assert globex.count(ToolGrant) == 0 and acme.count(ToolGrant) == 0


# --- templates -----------------------------------------------------------------------------------------------


def test_templates_install_as_editable_agents(api, acme):
    provider = make_provider(api, acme)

    listed = api.get("/api/v1/agent-templates/", **acme.auth("viewer"))
    installed = api.post("/api/v1/agent-templates/marketing_strategist/install/", **acme.auth())
    again = api.post("/api/v1/agent-templates/marketing_strategist/install/", {"name": "Ads"}, **acme.auth())
    missing = api.post("/api/v1/agent-templates/astrologer/install/", **acme.auth())

    assert listed.status_code == 200
    assert {t["key"] for t in listed.json()} == {
        "marketing_strategist",
        "content_creator",
        "sales_assistant",
        "customer_support",
        "data_analyst",
        "ecommerce_optimiser",
        "workflow_automator",
    }
    template = next(t for t in listed.json() if t["key"] == "marketing_strategist")
    assert installed.status_code == 201, installed.content
    agent = installed.json()
    assert agent["name"] == "Marketing strategist" and agent["template"] == "marketing_strategist"
    assert agent["goal"] == template["goal"] and agent["temperature"] == template["temperature"]
    assert agent["provider"] == provider["id"]  # the tenant's only provider
    assert again.status_code == 201 and again.json()["name"] == "Ads"
    assert missing.status_code == 404
    edited = api.patch(
        f"/api/v1/agents/{agent['id']}/",
        {"goal": "Grow bookings for our yoga studio.", "temperature": 0.3},
        **acme.auth(),
    )
    assert edited.status_code == 200
    with schema_context(acme.tenant.schema_name):
        stored = Agent.objects.get(pk=agent["id"])
    assert stored.goal == "Grow bookings for our yoga studio." and stored.temperature == Decimal("0.30")


# --- RBAC and isolation --------------------------------------------------------------------------------------


def test_viewers_read_members_cannot_configure_admins_can(api, acme):
    provider = make_provider(api, acme)
    agent = make_agent(api, acme)
    shop = acme.connection("shopify")
    member, viewer = acme.auth("member"), acme.auth("viewer")
    grants = {"grants": [{"connection": shop.pk, "resources": ["orders"]}]}

    for path in (
        "/api/v1/llm-providers/",
        "/api/v1/agents/",
        f"/api/v1/agents/{agent['id']}/",
        f"/api/v1/agents/{agent['id']}/tools/",
        f"/api/v1/agents/{agent['id']}/available-tools/",
        "/api/v1/agent-templates/",
    ):
        assert api.get(path, **viewer).status_code == 200, path
    denied = [
        api.post(
            "/api/v1/llm-providers/", {"name": "x", "kind": "openai", "default_model": "m", "api_key": "k"}, **member
        ),
        api.patch(f"/api/v1/llm-providers/{provider['id']}/", {"name": "x"}, **member),
        api.post(f"/api/v1/llm-providers/{provider['id']}/test/", **member),
        api.delete(f"/api/v1/llm-providers/{provider['id']}/", **member),
        api.post("/api/v1/agents/", {"name": "x", "role": "r", "goal": "g"}, **member),
        api.patch(f"/api/v1/agents/{agent['id']}/", {"name": "x"}, **viewer),
        api.delete(f"/api/v1/agents/{agent['id']}/", **member),
        put(api, f"/api/v1/agents/{agent['id']}/tools/", grants, **member),
        api.post("/api/v1/agent-templates/data_analyst/install/", **member),
    ]
    assert [r.status_code for r in denied] == [403] * len(denied)
    assert acme.count(LLMProvider) == 1 and acme.count(Agent) == 1 and acme.count(ToolGrant) == 0
    assert api.get(f"/api/v1/llm-providers/{provider['id']}/", **viewer).json()["name"] == "OpenAI"
    assert put(api, f"/api/v1/agents/{agent['id']}/tools/", grants, **acme.auth("admin")).status_code == 200
    assert api.post("/api/v1/agent-templates/data_analyst/install/", **acme.auth("owner")).status_code == 201


def test_another_tenant_can_neither_see_nor_change_providers_agents_or_grants(api, acme, globex):
    provider = make_provider(api, acme)
    agent = make_agent(api, acme, provider=provider["id"])
    shop = acme.connection("shopify")
    put(
        api,
        f"/api/v1/agents/{agent['id']}/tools/",
        {"grants": [{"connection": shop.pk, "resources": ["orders"]}]},
        **acme.auth(),
    )
    them = globex.auth("owner")

    assert api.get("/api/v1/llm-providers/", **them).json()["count"] == 0
    assert api.get("/api/v1/agents/", **them).json()["count"] == 0
    responses = [
        api.get(f"/api/v1/llm-providers/{provider['id']}/", **them),
        api.patch(f"/api/v1/llm-providers/{provider['id']}/", {"name": "Mine"}, **them),
        api.post(f"/api/v1/llm-providers/{provider['id']}/test/", **them),
        api.delete(f"/api/v1/llm-providers/{provider['id']}/", **them),
        api.get(f"/api/v1/agents/{agent['id']}/", **them),
        api.patch(f"/api/v1/agents/{agent['id']}/", {"goal": "Leak."}, **them),
        api.delete(f"/api/v1/agents/{agent['id']}/", **them),
        api.get(f"/api/v1/agents/{agent['id']}/tools/", **them),
        put(api, f"/api/v1/agents/{agent['id']}/tools/", {"grants": []}, **them),
        api.get(f"/api/v1/agents/{agent['id']}/available-tools/", **them),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    with schema_context(acme.tenant.schema_name):
        assert LLMProvider.objects.get().name == "OpenAI"
        assert Agent.objects.get().goal == "Write good copy."
        assert ToolGrant.objects.count() == 1


# --- the LLM client against the providers' contracts ---------------------------------------------------------


def provider(kind: str, base_url: str, **extra) -> LLMProvider:
    return LLMProvider(
        pk=1,
        name=kind,
        kind=kind,
        base_url=base_url,
        default_model=extra.pop("default_model", "gpt-4o-mini"),
        credentials={"api_key": extra.pop("api_key", SECRET)},
        **extra,
    )


TOOL = {
    "type": "function",
    "function": {
        "name": "read_orders",
        "description": "Read recent orders.",
        "parameters": {"type": "object", "properties": {"limit": {"type": "integer"}}, "required": ["limit"]},
    },
}


def test_chat_speaks_the_openai_contract(httpserver):
    text_reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Sales rose 12%."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
    }
    tool_reply = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "read_orders", "arguments": '{"limit": 5}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 60, "completion_tokens": 15, "total_tokens": 75},
    }
    auth = {"Authorization": f"Bearer {SECRET}"}
    httpserver.expect_ordered_request("/v1/chat/completions", method="POST", headers=auth).respond_with_json(text_reply)
    httpserver.expect_ordered_request("/v1/chat/completions", method="POST", headers=auth).respond_with_json(tool_reply)
    llm = provider("openai", httpserver.url_for("/v1"))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How were sales?"}]

    text = llm_client.chat(llm, model=None, messages=messages, temperature=0.4)
    call = llm_client.chat(llm, model="gpt-4o-mini", messages=messages, temperature=0.4, tools=[TOOL])

    assert (text.content, text.tool_calls) == ("Sales rose 12%.", [])
    assert (text.prompt_tokens, text.completion_tokens, text.model) == (42, 7, "gpt-4o-mini-2024-07-18")
    assert call.content == ""
    assert call.tool_calls == [{"id": "call_abc", "name": "read_orders", "arguments": {"limit": 5}}]
    assert (call.prompt_tokens, call.completion_tokens) == (60, 15)
    first, second = (entry[0].get_json() for entry in httpserver.log)
    assert first == {"model": "gpt-4o-mini", "messages": messages, "temperature": 0.4}
    assert second["tools"] == [TOOL]
    assert llm_client.estimate_cost(text.model, 1_000_000, 1_000_000) == Decimal("0.750000")


def test_chat_speaks_the_anthropic_contract(httpserver):
    text_reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Hello there."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 25, "output_tokens": 4},
    }
    tool_reply = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01", "name": "read_orders", "input": {"limit": 3}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 300, "output_tokens": 40},
    }
    headers = {"x-api-key": SECRET, "anthropic-version": "2023-06-01"}
    httpserver.expect_ordered_request("/v1/messages", method="POST", headers=headers).respond_with_json(text_reply)
    httpserver.expect_ordered_request("/v1/messages", method="POST", headers=headers).respond_with_json(tool_reply)
    llm = provider("anthropic", httpserver.url_for("/v1"), default_model="claude-3-5-sonnet-latest")
    history = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Recent orders?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "toolu_00", "name": "read_orders", "arguments": {"limit": 1}}],
        },
        {"role": "tool", "tool_call_id": "toolu_00", "content": "[order 1001]"},
    ]

    text = llm_client.chat(llm, model=None, messages=[{"role": "user", "content": "Hi"}], temperature=1.5)
    call = llm_client.chat(llm, model=None, messages=history, temperature=0.2, tools=[TOOL])

    assert (text.content, text.tool_calls, text.prompt_tokens, text.completion_tokens) == ("Hello there.", [], 25, 4)
    assert text.model == "claude-3-5-sonnet-20241022"
    assert call.content == "Let me check."
    assert call.tool_calls == [{"id": "toolu_01", "name": "read_orders", "arguments": {"limit": 3}}]
    assert (call.prompt_tokens, call.completion_tokens) == (300, 40)
    first, second = (entry[0].get_json() for entry in httpserver.log)
    assert first == {
        "model": "claude-3-5-sonnet-latest",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "temperature": 1.0,  # Anthropic's range ends at 1
    }
    assert second["system"] == "You are terse."
    assert second["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Recent orders?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_00", "name": "read_orders", "input": {"limit": 1}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_00", "content": "[order 1001]"}]},
    ]
    assert second["tools"] == [
        {"name": "read_orders", "description": "Read recent orders.", "input_schema": TOOL["function"]["parameters"]}
    ]
    assert llm_client.estimate_cost(call.model, 300, 40) == Decimal("0.001500")


def test_azure_and_ollama_endpoints(httpserver):
    reply = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    httpserver.expect_request(
        "/openai/deployments/prod-4o/chat/completions",
        method="POST",
        query_string={"api-version": "2024-10-21"},
        headers={"api-key": SECRET},
    ).respond_with_json(reply)
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(reply)
    azure = provider("azure_openai", httpserver.url_for("/"), default_model="prod-4o", api_version="2024-10-21")
    ollama = provider("ollama", httpserver.url_for("/"), default_model="llama3.1", api_key="")

    assert (
        llm_client.chat(azure, model=None, messages=[{"role": "user", "content": "hi"}], temperature=0).content == "ok"
    )
    result = llm_client.chat(ollama, model=None, messages=[{"role": "user", "content": "hi"}], temperature=0)

    assert result.content == "ok" and result.model == "llama3.1"
    azure_request, ollama_request = (entry[0] for entry in httpserver.log)
    assert "model" not in azure_request.get_json()  # the deployment in the URL names it
    assert ollama_request.get_json()["model"] == "llama3.1" and "Authorization" not in ollama_request.headers
    assert llm_client.estimate_cost("llama3.1", 1000, 1000) is None


def test_provider_errors_become_typed_exceptions(httpserver):
    messages = [{"role": "user", "content": "hi"}]
    httpserver.expect_request("/auth/chat/completions").respond_with_json(
        {"error": {"message": "Incorrect API key provided: sk-xx.", "type": "invalid_request_error"}}, status=401
    )
    httpserver.expect_request("/busy/chat/completions").respond_with_json(
        {"error": {"message": "Rate limit reached for requests"}}, status=429, headers={"Retry-After": "120"}
    )
    httpserver.expect_request("/down/chat/completions").respond_with_data("upstream error", status=503)

    def slow(request):
        time.sleep(1.2)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow/chat/completions").respond_with_handler(slow)

    def call(prefix: str, **kwargs):
        return llm_client.chat(
            provider("openai_compatible", httpserver.url_for(prefix)),
            model=None,
            messages=messages,
            temperature=0,
            **kwargs,
        )

    with pytest.raises(AuthenticationError, match="Incorrect API key provided"):
        call("/auth")
    with pytest.raises(RateLimitedError, match="Rate limit reached"):
        call("/busy")
    with pytest.raises(ProviderUnavailableError, match="503"):
        call("/down")
    with pytest.raises(ProviderUnavailableError, match="timed out"):
        call("/slow", timeout=0.3)
