"""Quotas: every limit refuses with its exact status and body and writes nothing, counters are per tenant (and per
API key or endpoint), the LLM budget stops a run before the model is called, Redis down fails open, usage is
visible to owners and admins, and super admins override limits in the console. Limits are overridden to tiny
numbers so that each test is fast; everything runs against the real PostgreSQL and Redis."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from apps.accounts import quotas
from apps.accounts.audit.models import AuditEvent
from apps.accounts.audit.services import Actor
from apps.accounts.models import TenantQuota
from apps.accounts.services import api_key_create
from apps.agents.knowledge.ingest import ingest_document
from apps.agents.models import Agent, AgentRun, Document, KnowledgeCollection, LLMProvider
from apps.agents.rule_actions import perform as run_agent_action
from apps.connectors.models import Connection
from apps.integrations.models import Event, InboundEndpoint
from apps.integrations.queueing import event_emit
from apps.integrations.rules import ActionFailed
from apps.workflows.models import WorkflowConfig
from bizosaas import refusals as held_refusals
from tests.factories import make_user
from tests.integrations.conftest import Org as IntegrationsOrg
from tests.wsgi import wsgi_call

pytestmark = pytest.mark.django_db

HIGH = 10**6


class Org(IntegrationsOrg):
    """A tenant with one member per role (tests.integrations' fixture), plus API keys of its own."""

    def key(self, *scopes: str, name: str = "zapier") -> tuple[object, dict]:
        key, secret = api_key_create(
            tenant=self.tenant,
            name=name,
            scopes=list(scopes),
            expires_at=None,
            created_by=None,
            actor=Actor.system("test"),
        )
        return key, {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def limit(self, **values) -> None:
        TenantQuota.objects.update_or_create(tenant=self.tenant, defaults=values)

    def count(self, model) -> int:
        with schema_context(self.schema):
            return model.objects.count()

    def audit(self) -> int:
        return self.count(AuditEvent)

    def agent(self) -> Agent:
        with schema_context(self.schema):
            provider = LLMProvider.objects.create(
                name="OpenAI", kind=LLMProvider.Kind.OPENAI, default_model="gpt-4o-mini", credentials={"api_key": "k"}
            )
            return Agent.objects.create(name="Helper", role="helps", goal="help", provider=provider)


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def globex(db):
    return Org("globex")


def refused(limit: str, value, usage, detail: str, retry_after: int | None) -> dict:
    return {
        "detail": detail,
        "code": "quota_exceeded",
        "limit": limit,
        "limit_value": value,
        "usage": usage,
        "retry_after": retry_after,
    }


def seconds_to(end: datetime) -> int:
    return max(1, math.ceil((end - timezone.now()).total_seconds()))


def next_midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def fresh_minute(margin: float = 5.0) -> None:
    """Waits for the next minute when this one is nearly over, so a test's calls fall into one window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def fresh_second() -> None:
    time.sleep(1.02 - time.time() % 1)


def refusals(limit: str) -> float:
    return REGISTRY.get_sample_value("bizosaas_quota_refusals_total", {"limit": limit}) or 0.0


# --- limits ----------------------------------------------------------------------------------------------------


def test_limits_are_the_platform_defaults_until_a_field_is_overridden(acme, settings):
    settings.QUOTA_CONNECTIONS = 7

    assert quotas.limits_for(acme.tenant) == {
        "api_requests_per_minute": 1200,
        "api_key_requests_per_minute": 600,
        "webhook_requests_per_second": 100,
        "events_per_day": 100_000,
        "agent_runs_per_day": 500,
        "llm_tokens_per_month": 5_000_000,
        "llm_cost_per_month_usd": Decimal("50.00"),
        "knowledge_bytes": 500 * 1024 * 1024,
        "knowledge_chunks": 200_000,
        "connections": 7,
        "workflow_configs": 50,
    }
    acme.limit(connections=2, llm_cost_per_month_usd=Decimal("1.50"))
    limits = quotas.limits_for(acme.schema)
    assert (limits["connections"], limits["llm_cost_per_month_usd"], limits["events_per_day"]) == (
        2,
        Decimal("1.50"),
        100_000,
    )


def test_every_limit_is_a_field_of_the_override():
    fields = {f.name for f in TenantQuota._meta.get_fields()} - {"id", "tenant", "updated_at"}
    assert fields == set(quotas.BY_KEY) | set(quotas.IN_FLIGHT_FIELDS)


# --- capacities: 403, nothing written --------------------------------------------------------------------------

CAPACITY_AFTER = " Delete what you no longer need, or ask the platform's administrators for a higher limit."


def test_a_connection_over_the_limit_is_refused_with_403_and_nothing_is_written(api, acme):
    acme.limit(connections=1)
    body = {
        "provider": "wordpress",
        "name": "Blog",
        "config": {"site_url": "https://blog.example.com", "username": "u", "application_password": "p p p p"},
    }
    assert api.post("/api/v1/connections/", body, **acme.auth()).status_code == 201
    before = (acme.count(Connection), acme.audit())
    refused_before = refusals("connections")

    response = api.post("/api/v1/connections/", {**body, "name": "Second blog"}, **acme.auth())

    assert response.status_code == 403
    assert "Retry-After" not in response.headers
    assert response.json() == refused(
        "connections", 1, 1, "Connections quota reached: 1 of 1 connections used." + CAPACITY_AFTER, None
    )
    assert (acme.count(Connection), acme.audit()) == before
    assert refusals("connections") == refused_before + 1


def test_a_workflow_configuration_over_the_limit_is_refused_with_403_and_nothing_is_written(api, acme):
    acme.limit(workflow_configs=1)
    with schema_context(acme.schema):
        crm = Connection.objects.create(provider="hubspot", name="CRM", credentials={"private_app_token": "t"})
        WorkflowConfig.objects.create(name="First", template="connection_sync", parameters={})
    before = (acme.count(WorkflowConfig), acme.audit())
    body = {
        "name": "Contacts sync",
        "template": "connection_sync",
        "parameters": {"connection": crm.pk, "resource": "contacts"},
    }

    response = api.post("/api/v1/workflows/configs/", body, **acme.auth())

    assert response.status_code == 403
    assert response.json() == refused(
        "workflow_configs",
        1,
        1,
        "Workflow configurations quota reached: 1 of 1 configurations used." + CAPACITY_AFTER,
        None,
    )
    assert (acme.count(WorkflowConfig), acme.audit()) == before


def upload(acme: Org, collection: int, data: bytes, name: str = "notes.txt"):
    return Client(HTTP_HOST="localhost").post(
        "/api/v1/knowledge/documents/",
        {"collection": collection, "file": SimpleUploadedFile(name, data)},
        **acme.auth("member"),
    )


def collection_of(acme: Org) -> int:
    with schema_context(acme.schema):
        return KnowledgeCollection.objects.create(name="Handbook").pk


def test_an_upload_past_the_storage_limit_is_refused_with_403_and_nothing_is_stored(acme):
    acme.limit(knowledge_bytes=3000)
    collection = collection_of(acme)
    assert upload(acme, collection, b"Tea from Assam. " * 100).status_code == 201  # 1,600 bytes
    before = (acme.count(Document), acme.audit())

    response = upload(acme, collection, b"Spices from Kerala. " * 100)  # 2,000 more

    assert response.status_code == 403
    assert response.json() == refused(
        "knowledge_bytes",
        3000,
        1600,
        "Knowledge storage quota reached: 1.6 KiB of 2.9 KiB used; this would add 2.0 KiB." + CAPACITY_AFTER,
        None,
    )
    assert (acme.count(Document), acme.audit()) == before


def test_an_upload_is_refused_when_the_chunks_are_used_up_and_ingestion_fails_a_document_that_would_pass(acme):
    acme.limit(knowledge_chunks=2)
    collection = collection_of(acme)
    paragraphs = "\n\n".join(f"Paragraph {n}: " + "the tea estates of Assam grow leaves. " * 30 for n in range(6))
    document = upload(acme, collection, paragraphs.encode()).json()

    status = ingest_document_in(acme, document["id"])

    with schema_context(acme.schema):
        failed = Document.objects.get(pk=document["id"])
        assert failed.chunks.count() == 0
    assert status == failed.status == "failed"
    assert failed.error.startswith("Knowledge chunks quota reached: 0 of 2 chunks used; this would add ")
    assert failed.chunks_count == 0

    with schema_context(acme.schema):
        Document.objects.filter(pk=document["id"]).update(chunks_count=2)  # as if it had been ingested
    response = upload(acme, collection, b"One more short note.")
    assert response.status_code == 403
    assert response.json()["limit"] == "knowledge_chunks"
    assert (response.json()["limit_value"], response.json()["usage"]) == (2, 2)
    assert acme.count(Document) == 1


def ingest_document_in(org: Org, document_id: int) -> str | None:
    with schema_context(org.schema):
        return ingest_document(document_id)


# --- rates: 429 with Retry-After ------------------------------------------------------------------------------


def test_api_events_over_the_day_are_refused_with_429_until_midnight_utc_and_system_events_still_count(api, acme):
    acme.limit(events_per_day=2)
    event = {"type": "shop.order.created", "payload": {"order": 1}}
    for _ in range(2):
        assert api.post("/api/v1/events/", event, **acme.auth("member")).status_code == 202

    response = api.post("/api/v1/events/", event, **acme.auth("member"))

    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert abs(retry - seconds_to(next_midnight())) <= 2
    body = response.json()
    assert body == refused(
        "events_per_day",
        2,
        2,
        f"Events per day quota reached: 2 of 2 events used today (UTC). Try again in {quotas._duration(retry)}.",
        retry,
    )
    assert acme.count(Event) == 2

    # the platform's own events are never refused, and they count
    with schema_context(acme.schema):
        event_emit("bizosaas.subscription.disabled", {"subscription_id": 1})
    assert acme.count(Event) == 3
    usage = {row["key"]: row["usage"] for row in quotas.usage_for(acme.tenant)}
    assert usage["events_per_day"] == 3


def test_the_tenants_api_requests_per_minute_answer_429_from_the_fourth_call(api, acme):
    acme.limit(api_requests_per_minute=3)
    fresh_minute()
    statuses = [api.get("/api/v1/tenant/", **acme.auth("viewer")).status_code for _ in range(3)]

    response = api.get("/api/v1/members/", **acme.auth("owner"))

    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 60 and abs(retry - (60 - time.time() % 60)) <= 2
    assert response.json() == refused(
        "api_requests_per_minute",
        3,
        3,
        f"API requests per minute quota reached: 3 of 3 requests used this minute. Try again in {retry} s.",
        retry,
    )


def test_an_api_key_has_its_own_requests_per_minute_and_a_refused_call_changes_nothing(api, acme):
    acme.limit(api_key_requests_per_minute=3)
    _key, busy = acme.key("events:write", "tenant:read")
    _other, quiet = acme.key("tenant:read", name="other")
    fresh_minute()
    for _ in range(3):
        assert api.get("/api/v1/tenant/", **busy).status_code == 200

    response = api.post("/api/v1/events/", {"type": "shop.order.created", "payload": {}}, **busy)

    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert response.json() == refused(
        "api_key_requests_per_minute",
        3,
        3,
        "API requests per minute per API key quota reached: 3 of 3 requests used by this API key this minute. "
        f"Try again in {retry} s.",
        retry,
    )
    assert acme.count(Event) == 0
    assert api.get("/api/v1/tenant/", **quiet).status_code == 200  # another key of the same tenant
    assert api.get("/api/v1/tenant/", **acme.auth("viewer")).status_code == 200  # and its people


def test_counters_are_per_tenant_one_at_its_limit_leaves_the_other_alone(api, acme, globex):
    acme.limit(api_requests_per_minute=3, events_per_day=1)
    globex.limit(api_requests_per_minute=3, events_per_day=1)
    fresh_minute()
    event = {"type": "shop.order.created", "payload": {}}
    assert api.post("/api/v1/events/", event, **acme.auth("member")).status_code == 202
    assert api.post("/api/v1/events/", event, **acme.auth("member")).status_code == 429
    assert api.get("/api/v1/tenant/", **acme.auth()).status_code == 200
    assert api.get("/api/v1/tenant/", **acme.auth()).status_code == 429

    assert api.post("/api/v1/events/", event, **globex.auth("member")).status_code == 202
    assert [api.get("/api/v1/tenant/", **globex.auth()).status_code for _ in range(2)] == [200, 200]
    assert (acme.count(Event), globex.count(Event)) == (1, 1)


def test_when_redis_is_unreachable_rate_limits_fail_open_and_nothing_answers_500(api, acme, caplog):
    acme.limit(api_requests_per_minute=1, events_per_day=1)
    dead = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, "IGNORE_EXCEPTIONS": True},
        }
    }
    try:
        with override_settings(CACHES=dead):
            event = {"type": "shop.order.created", "payload": {}}
            statuses = [api.post("/api/v1/events/", event, **acme.auth("member")).status_code for _ in range(3)]
            usage = {row["key"]: row["usage"] for row in quotas.usage_for(acme.tenant)}
    finally:
        quotas._redis_down_until = 0.0  # the next test has Redis again

    assert statuses == [202, 202, 202]
    assert acme.count(Event) == 3
    assert usage["events_per_day"] is None and usage["connections"] == 0
    assert "quota counters unreachable, rate limits not enforced" in caplog.text


# --- inbound webhooks ------------------------------------------------------------------------------------------


def webhook_endpoint(api, org: Org) -> dict:
    body = {"name": "Backend", "scheme": "standard_webhooks", "connection": None}
    response = api.post("/api/v1/webhooks/endpoints/", body, **org.auth())
    assert response.status_code == 201, response.content
    return response.json()


def post_webhook(endpoint: dict, msg_id: str):
    text = json.dumps({"type": "order.paid", "data": {"id": msg_id}})
    moment = datetime.now(UTC)
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(endpoint["signing_secret"]).sign(msg_id, moment, text),
    }
    path = "/hooks/" + endpoint["url"].rstrip("/").rsplit("/", 1)[1] + "/"
    return Client(HTTP_HOST="localhost").post(path, text, content_type="application/json", **headers)


def test_an_endpoint_past_its_requests_per_second_answers_429_with_retry_after_1_before_storing(api, acme, globex):
    acme.limit(webhook_requests_per_second=2)
    globex.limit(webhook_requests_per_second=2)
    endpoint = webhook_endpoint(api, acme)
    second = webhook_endpoint(api, acme)
    theirs = webhook_endpoint(api, globex)
    fresh_second()

    statuses = [post_webhook(endpoint, f"msg_{n}").status_code for n in range(2)]
    response = post_webhook(endpoint, "msg_3")
    others = [post_webhook(second, "msg_a").status_code, post_webhook(theirs, "msg_b").status_code]

    assert statuses == [200, 200]
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json() == refused(
        "webhook_requests_per_second",
        2,
        2,
        "Inbound webhook requests per second per endpoint quota reached: 2 of 2 requests used by this endpoint "
        "this second. Try again in 1 s.",
        1,
    )
    assert others == [200, 200]  # the tenant's other endpoint, and another tenant's
    with schema_context(acme.schema):
        assert sorted(Event.objects.values_list("external_id", flat=True)) == ["msg_0", "msg_1", "msg_a"]
        refused_endpoint = InboundEndpoint.objects.get(pk=endpoint["id"])
        assert (refused_endpoint.rejected_count, refused_endpoint.duplicate_count) == (0, 0)


def wsgi_post(endpoint: dict, msg_id: str) -> tuple[str, dict, dict]:
    """A webhook through the gateway's WSGI application (bizosaas.wsgi), the way gunicorn calls it."""
    text = json.dumps({"type": "order.paid", "data": {"id": msg_id}}).encode()
    moment = datetime.now(UTC)
    return wsgi_call(
        "POST",
        "/hooks/" + endpoint["url"].rstrip("/").rsplit("/", 1)[1] + "/",
        text,
        HTTP_WEBHOOK_ID=msg_id,
        HTTP_WEBHOOK_TIMESTAMP=str(int(moment.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(endpoint["signing_secret"]).sign(msg_id, moment, text.decode()),
    )


def test_a_caller_past_the_api_rate_is_answered_before_django_until_the_minute_ends(api, acme, globex):
    """A client that ignores Retry-After gets the refusal again from the gateway's memory: the same answer, the
    Retry-After counting down, without a pass through the stack (here Redis's counters are unreachable, so a
    pass through the stack would let the call in). Other callers are answered as before."""
    acme.limit(api_requests_per_minute=2)
    fresh_minute()
    owner = acme.auth("owner")  # one token: the held refusal is keyed by the credential
    assert [api.get("/api/v1/tenant/", **owner).status_code for _ in range(2)] == [200, 200]
    first = api.get("/api/v1/members/", **owner)
    assert first.status_code == 429

    quotas._redis_down_until = time.monotonic() + 30
    try:
        status, headers, body = wsgi_call("GET", "/api/v1/connections/", HTTP_AUTHORIZATION=owner["HTTP_AUTHORIZATION"])
        theirs = wsgi_call("GET", "/api/v1/tenant/", HTTP_AUTHORIZATION=globex.auth("owner")["HTTP_AUTHORIZATION"])
    finally:
        quotas._redis_down_until = 0.0
        held_refusals.forget_all()

    assert status == "429 Too Many Requests"
    assert body == first.json()
    assert 1 <= int(headers["Retry-After"]) <= int(first["Retry-After"])
    assert headers["Content-Type"] == "application/json"
    assert theirs[0] == "200 OK"


def test_an_endpoint_over_its_second_is_refused_before_django_until_the_second_ends(api, acme, globex):
    acme.limit(webhook_requests_per_second=2)
    endpoint = webhook_endpoint(api, acme)
    theirs = webhook_endpoint(api, globex)
    fresh_second()
    assert [post_webhook(endpoint, f"msg_{n}").status_code for n in range(2)] == [200, 200]
    first = post_webhook(endpoint, "msg_2")
    assert first.status_code == 429
    before = refusals("webhook_requests_per_second")

    # the counters unreachable: were the gateway to ask Redis again it would let this one in (it fails open)
    quotas._redis_down_until = time.monotonic() + 30
    try:
        status, headers, body = wsgi_post(endpoint, "msg_3")
        other = wsgi_post(theirs, "msg_b")[0]  # another tenant's endpoint is not held up
    finally:
        quotas._redis_down_until = 0.0

    assert (status, headers["Retry-After"], body) == ("429 Too Many Requests", "1", first.json())
    assert refusals("webhook_requests_per_second") == before + 1
    assert other == "200 OK"
    fresh_second()  # the window has ended: the endpoint takes webhooks again
    assert wsgi_post(endpoint, "msg_4")[0] == "200 OK"
    with schema_context(acme.schema):
        assert sorted(Event.objects.values_list("external_id", flat=True)) == ["msg_0", "msg_1", "msg_4"]


def test_a_verified_webhook_over_the_events_per_day_is_refused_with_429_and_not_stored(api, acme):
    acme.limit(events_per_day=1)
    endpoint = webhook_endpoint(api, acme)
    assert post_webhook(endpoint, "msg_1").status_code == 200
    assert post_webhook(endpoint, "msg_1").json()["status"] == "duplicate"  # a repeat is given back

    response = post_webhook(endpoint, "msg_2")

    assert response.status_code == 429
    assert abs(int(response["Retry-After"]) - seconds_to(next_midnight())) <= 2
    body = response.json()
    assert (body["code"], body["limit"], body["limit_value"], body["usage"]) == (
        "quota_exceeded",
        "events_per_day",
        1,
        1,
    )
    assert acme.count(Event) == 1


def events_used(org: Org) -> int:
    return {row["key"]: row["usage"] for row in quotas.usage_for(org.tenant)}["events_per_day"]


def test_a_webhook_that_stores_nothing_gives_its_event_back_to_the_day(api, acme, settings):
    """The gateway counts a webhook's event with the endpoint's rate, before the body is read: a forged one, an
    oversized one and a repeat store nothing and leave the day's count as it was."""
    acme.limit(events_per_day=2)
    endpoint = webhook_endpoint(api, acme)
    assert post_webhook(endpoint, "msg_1").status_code == 200
    forged = wsgi_post({**endpoint, "signing_secret": "whsec_" + "A" * 32}, "msg_forged")
    repeat = post_webhook(endpoint, "msg_1")
    settings.WEBHOOK_MAX_BODY_BYTES = 16
    large = post_webhook(endpoint, "msg_large")
    settings.WEBHOOK_MAX_BODY_BYTES = 256 * 1024

    assert (forged[0][:3], repeat.json()["status"], large.status_code) == ("401", "duplicate", 413)
    assert events_used(acme) == 1
    assert post_webhook(endpoint, "msg_2").status_code == 200  # the second of the day's two
    assert post_webhook(endpoint, "msg_3").status_code == 429
    assert events_used(acme) == 2
    assert acme.count(Event) == 2


def test_over_the_days_events_an_endpoint_still_counts_its_requests_per_second(api, acme):
    """A refusal of the day's events leaves the request counted against the endpoint's second, so a flood past the
    day's quota is still cut at the endpoint's rate before any body is read or verified."""
    acme.limit(events_per_day=1, webhook_requests_per_second=3)
    endpoint = webhook_endpoint(api, acme)
    fresh_second()
    answers = [post_webhook(endpoint, f"msg_{n}") for n in range(4)]

    assert [answer.status_code for answer in answers] == [200, 429, 429, 429]
    assert [answer.json()["limit"] for answer in answers[1:]] == [
        "events_per_day",
        "events_per_day",
        "webhook_requests_per_second",
    ]
    assert acme.count(Event) == 1


# --- agent runs and the LLM budgets ----------------------------------------------------------------------------


def test_agent_runs_over_the_day_are_refused_with_429_and_a_rules_run_agent_action_fails_with_the_reason(api, acme):
    acme.limit(agent_runs_per_day=1)
    agent = acme.agent()
    assert api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Hello"}, **acme.auth("member")).status_code == 202

    response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Again"}, **acme.auth("member"))

    assert response.status_code == 429
    body = response.json()
    assert body["detail"].startswith("Agent runs per day quota reached: 1 of 1 runs used today (UTC). Try again in ")
    assert (body["limit"], body["limit_value"], body["usage"]) == ("agent_runs_per_day", 1, 1)
    assert body["retry_after"] == int(response["Retry-After"])
    assert acme.count(AgentRun) == 1

    class Rule:
        pk, name = 5, "Leads"

    planned = {"agent": agent.pk, "input": {"text": "Summarise"}, "missing": []}
    with schema_context(acme.schema), pytest.raises(ActionFailed) as failure:
        run_agent_action({"agent": agent.pk}, planned, tenant=acme.tenant, rule=Rule())
    assert failure.value.message.startswith("Agent runs per day quota reached: 1 of 1 runs used today (UTC).")
    assert acme.count(AgentRun) == 1


def budget_events(org: Org) -> list[Event]:
    with schema_context(org.schema):
        return list(Event.objects.filter(type="bizosaas.budget.exceeded"))


def start_and_execute(api, org: Org, agent: Agent, llm) -> AgentRun:
    from apps.agents.runtime.runner import execute_run

    response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Write the report"}, **org.auth("member"))
    assert response.status_code == 202, response.content
    with schema_context(org.schema):
        execute_run(response.json()["id"], llm=llm)
        return AgentRun.objects.get(pk=response.json()["id"])


def test_a_run_over_the_monthly_token_budget_fails_before_the_model_is_called_and_raises_one_event(api, acme):
    from tests.agents.test_runtime import final, scripted_llm

    acme.limit(llm_tokens_per_month=1000)
    agent = acme.agent()
    with schema_context(acme.schema):
        AgentRun.objects.create(agent=agent, input="x", status="succeeded", prompt_tokens=900, completion_tokens=100)
        last_month = AgentRun.objects.create(agent=agent, input="y", status="succeeded", prompt_tokens=10**6)
        AgentRun.objects.filter(pk=last_month.pk).update(created_at=timezone.now() - timedelta(days=40))
    llm = scripted_llm([final("never said")])

    run = start_and_execute(api, acme, agent, llm)

    assert llm.received == []  # the model was not called
    assert run.status == "failed"
    month_end = (datetime.now(UTC).replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
    assert run.error == (
        "LLM tokens per month quota reached: 1,000 of 1,000 tokens used this month (UTC). "
        f"The run stopped before calling the model. Try again in {quotas._duration(seconds_to(month_end))}."
    )
    assert (run.prompt_tokens, run.completion_tokens) == (0, 0)
    [event] = budget_events(acme)
    assert event.source == "system"
    assert event.payload == {
        "detail": run.error,
        "code": "quota_exceeded",
        "limit": "llm_tokens_per_month",
        "limit_value": 1000,
        "usage": 1000,
        "month": datetime.now(UTC).strftime("%Y-%m"),
        "run_id": run.pk,
    }

    again = start_and_execute(api, acme, agent, scripted_llm([final("never said")]))
    assert again.status == "failed" and again.error == run.error
    assert len(budget_events(acme)) == 1  # once a month per budget


def test_a_run_stops_at_the_call_that_would_pass_the_cost_budget_keeping_what_it_used(api, acme):
    from tests.agents.test_runtime import act, final, scripted_llm

    acme.limit(llm_cost_per_month_usd=Decimal("0.01"))
    agent = acme.agent()
    with schema_context(acme.schema):
        AgentRun.objects.create(agent=agent, input="x", status="succeeded", cost_usd=Decimal("0.009990"))
    # one call at gpt-4o-mini's price costs $0.000015 + $0.000018: the second finds the budget spent
    llm = scripted_llm([act("look_around", where="here"), final("never said")], model="gpt-4o-mini", tokens=(100, 30))

    run = start_and_execute(api, acme, agent, llm)

    assert len(llm.received) == 1
    assert run.status == "failed"
    assert run.error.startswith(
        "Estimated LLM cost per month quota reached: $0.0100 of $0.01 used this month (UTC). "
        "The run stopped before calling the model."
    )
    assert (run.prompt_tokens, run.completion_tokens) == (100, 30)
    [event] = budget_events(acme)
    assert event.payload["limit"] == "llm_cost_per_month_usd"


# --- usage -----------------------------------------------------------------------------------------------------


def test_usage_lists_every_limit_with_its_value_usage_and_window(api, acme):
    acme.limit(connections=5, events_per_day=10)
    with schema_context(acme.schema):
        Connection.objects.create(provider="wordpress", name="Blog")
        collection = KnowledgeCollection.objects.create(name="Docs")
        Document.objects.create(
            collection=collection,
            title="a",
            filename="a.txt",
            content_type="text/plain",
            size=2048,
            sha256="0",
            chunks_count=3,
        )
        agent = Agent.objects.create(name="Helper", role="helps", goal="help")
        AgentRun.objects.create(agent=agent, input="x", prompt_tokens=40, completion_tokens=2, cost_usd=Decimal("0.25"))
    _key, auth = acme.key("tenant:read", "events:write")
    fresh_minute()
    api.post("/api/v1/events/", {"type": "shop.order.created", "payload": {}}, **auth)

    response = api.get("/api/v1/usage/", **acme.auth("owner"))

    assert response.status_code == 200
    rows = response.json()["limits"]
    now = datetime.now(UTC)
    minute_end = (now.replace(second=0, microsecond=0) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    day_end = next_midnight().isoformat().replace("+00:00", "Z")
    assert [(r["key"], r["kind"], r["period"], r["unit"], r["limit_value"], r["usage"]) for r in rows] == [
        ("api_requests_per_minute", "rate", "minute", "requests", 1200, 2),  # the event and this call
        ("api_key_requests_per_minute", "rate", "minute", "requests", 600, 1),
        ("webhook_requests_per_second", "rate", "second", "requests", 100, 0),
        ("events_per_day", "rate", "day", "events", 10, 1),
        ("agent_runs_per_day", "rate", "day", "runs", 500, 0),
        ("llm_tokens_per_month", "rate", "month", "tokens", 5_000_000, 42),
        ("llm_cost_per_month_usd", "rate", "month", "USD", 50.0, 0.25),
        ("knowledge_bytes", "capacity", "none", "bytes", 500 * 1024 * 1024, 2048),
        ("knowledge_chunks", "capacity", "none", "chunks", 200_000, 3),
        ("connections", "capacity", "none", "connections", 5, 1),
        ("workflow_configs", "capacity", "none", "configurations", 50, 0),
    ]
    assert rows[0] == {
        "key": "api_requests_per_minute",
        "label": "API requests per minute",
        "unit": "requests",
        "period": "minute",
        "kind": "rate",
        "per": "",
        "limit_value": 1200,
        "usage": 2,
        "resets_at": minute_end,
    }
    assert rows[1]["per"] == "API key" and rows[2]["per"] == "endpoint"
    assert rows[3]["resets_at"] == day_end
    assert [r["resets_at"] for r in rows[7:]] == [None] * 4


@pytest.mark.parametrize(
    ("caller", "status"),
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("key", 200), ("key-without-scope", 403)],
)
def test_usage_is_for_owners_admins_and_keys_with_tenant_read(api, acme, caller, status):
    if caller == "key":
        _key, auth = acme.key("tenant:read")
    elif caller == "key-without-scope":
        _key, auth = acme.key("events:read")
    else:
        auth = acme.auth(caller)

    response = api.get("/api/v1/usage/", **auth)

    assert response.status_code == status, response.content
    if status == 403:
        assert "limits" not in response.json()


# --- the super-admin console -----------------------------------------------------------------------------------


def test_a_super_admin_overrides_a_limit_on_the_tenant_page_which_shows_usage_and_the_override_applies(api, acme):
    from tests.accounts.test_admin import change_form_data

    console = Client(HTTP_HOST="localhost")
    console.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    with schema_context(acme.schema):
        Connection.objects.create(provider="wordpress", name="Blog")
    page = console.get(f"/admin/accounts/tenant/{acme.tenant.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Quota override (an empty field is the platform default)" in html
    assert "connections; empty: the platform default, 50" in html
    assert "<tr><td>Connections</td><td>1</td><td>50</td><td>connections</td><td>-</td></tr>" in html

    data = change_form_data(page)
    prefix = next(k for k in data if k.endswith("TOTAL_FORMS") and "quota" in k).removesuffix("-TOTAL_FORMS")
    data[f"{prefix}-0-connections"] = "1"
    saved = console.post(f"/admin/accounts/tenant/{acme.tenant.pk}/change/", data)

    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert TenantQuota.objects.get(tenant=acme.tenant).connections == 1
    body = {
        "provider": "wordpress",
        "name": "Second",
        "config": {"site_url": "https://b.example.com", "username": "u", "application_password": "p p p p"},
    }
    response = api.post("/api/v1/connections/", body, **acme.auth())
    assert response.status_code == 403 and response.json()["limit_value"] == 1
    shown = console.get(f"/admin/accounts/tenant/{acme.tenant.pk}/change/").content.decode()
    assert "<tr><td>Connections</td><td>1</td><td>1</td><td>connections</td><td>-</td></tr>" in shown
