"""The platform's metrics appear on the gateway's /metrics after the actions that move them: webhooks received,
the backlog (pending events, Celery queue depth), deliveries and rule runs, an OAuth refresh the provider refuses,
a knowledge ingestion, an agent run (status and tokens) and a workflow run that ends."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import schema_context
from prometheus_client.parser import text_string_to_metric_families

from apps.integrations import dispatch, queueing
from apps.integrations.models import Delivery, Event
from bizosaas.metrics import SCRAPE_TIME_COLLECTOR
from tests.agents.test_knowledge import PAGES, make_pdf
from tests.agents.test_knowledge import Org as KnowledgeOrg
from tests.agents.test_runtime import Org as AgentOrg
from tests.agents.test_runtime import final, scripted_llm
from tests.connectors.test_oauth import callback, connect, world  # noqa: F401 (fixture)
from tests.factories import bearer
from tests.integrations.conftest import Org as IntegrationsOrg
from tests.integrations.conftest import hook_path
from tests.integrations.test_smoke_flow import shopify_sign
from tests.workflows.test_configs import Org as WorkflowOrg
from tests.workflows.test_configs import create_config, schedules, terminate  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def scrape() -> dict[tuple[str, frozenset], float]:
    response = Client(HTTP_HOST="localhost").get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_webhooks_backlog_deliveries_and_rule_runs_are_counted(api, httpserver):
    acme = IntegrationsOrg("acme-metrics")
    shop = acme.connection("shopify", config={"shop": "acme"}, credentials={"webhook_secret": "shpss_1"})
    endpoint = acme.endpoint(api, connection=shop)
    httpserver.expect_request("/receiver", method="POST").respond_with_data("ok")
    acme.big_orders_to(api, httpserver.url_for("/receiver"))
    SCRAPE_TIME_COLLECTOR.invalidate()
    before = scrape()

    # when Shopify posts an order, and then a forged one
    body = json.dumps({"id": 1, "total_price": "99.00"}).encode()
    headers = {
        "HTTP_X_SHOPIFY_HMAC_SHA256": shopify_sign("shpss_1", body),
        "HTTP_X_SHOPIFY_TOPIC": "orders/create",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": "wh-1",
    }
    hook = Client(HTTP_HOST="localhost")
    accepted = hook.post(hook_path(endpoint), body, content_type="application/json", **headers)
    assert accepted.status_code == 200
    forged = {**headers, "HTTP_X_SHOPIFY_HMAC_SHA256": shopify_sign("wrong", body), "HTTP_X_SHOPIFY_WEBHOOK_ID": "2"}
    assert hook.post(hook_path(endpoint), body, content_type="application/json", **forged).status_code == 401
    with schema_context(acme.schema):
        event_ids = list(Event.objects.values_list("pk", flat=True))
    assert queueing.publish_batch(acme.schema, event_ids)  # as the publisher thread does, off the request
    SCRAPE_TIME_COLLECTOR.invalidate()
    waiting = scrape()

    # then intake and the backlog show it (the event is stored and its task waits in the queue)
    name = "bizosaas_webhooks_received_total"
    assert (
        value(waiting, name, provider="shopify", outcome="accepted")
        == value(before, name, provider="shopify", outcome="accepted") + 1
    )
    assert (
        value(waiting, name, provider="shopify", outcome="rejected")
        == value(before, name, provider="shopify", outcome="rejected") + 1
    )
    assert value(waiting, "bizosaas_events_pending") == value(before, "bizosaas_events_pending") + 1
    assert value(waiting, "bizosaas_celery_queue_length", queue="fanout") >= 1
    assert value(waiting, "bizosaas_scrape_source_up", source="redis") == 1

    # when the worker fans it out and delivers
    acme.process_pending()
    with schema_context(acme.schema):
        deliveries = list(Delivery.objects.values_list("pk", flat=True))
    for delivery in deliveries:
        acme.run(dispatch.delivery_send, delivery)
    SCRAPE_TIME_COLLECTOR.invalidate()
    after = scrape()

    # then the backlog is gone and the delivery and the rule run are counted
    assert value(after, "bizosaas_events_pending") == value(before, "bizosaas_events_pending")
    deliveries = "bizosaas_webhook_deliveries_total"
    assert value(after, deliveries, outcome="succeeded") == value(before, deliveries, outcome="succeeded") + 1
    assert value(after, "bizosaas_webhook_delivery_seconds_count") == (
        value(before, "bizosaas_webhook_delivery_seconds_count") + 1
    )
    assert sum(v for (n, _labels), v in after.items() if n == "bizosaas_rule_runs_total") == 1 + sum(
        v for (n, _labels), v in before.items() if n == "bizosaas_rule_runs_total"
    )


def test_a_refused_oauth_refresh_is_counted_by_provider(api, world):  # noqa: F811
    tenant, admin, hubspot, auth_server = world
    connection = connect(api, world)
    callback(api, *auth_server.user_consents(connection["authorization_url"]), world)
    hubspot.tokens, auth_server.refresh_ok = set(), False
    before = scrape()

    read = api.get(
        f"/api/v1/connections/{connection['id']}/resources/contacts/", {"fresh": "1"}, **bearer(admin, tenant)
    )

    assert read.status_code == 400
    after = scrape()
    name = "bizosaas_oauth_refresh_failures_total"
    assert value(after, name, provider="hubspot") == value(before, name, provider="hubspot") + 1
    assert value(after, "bizosaas_connector_requests_total", provider="hubspot", outcome="auth_error") >= 1


def test_knowledge_ingestion_counts_documents_chunks_and_time(db):
    org = KnowledgeOrg("acme-kb-metrics")
    collection = org.collection()
    document = org.uploaded(collection, "handbook.pdf", make_pdf(PAGES))
    broken = org.uploaded(collection, "broken.pdf", b"%PDF-1.4 this is not really a pdf")
    before = scrape()

    assert org.ingest(document["id"]) == "ready"
    assert org.ingest(broken["id"]) == "failed"

    after = scrape()
    docs = "bizosaas_knowledge_documents_ingested_total"
    assert value(after, docs, outcome="ready") == value(before, docs, outcome="ready") + 1
    assert value(after, docs, outcome="failed") == value(before, docs, outcome="failed") + 1
    assert value(after, "bizosaas_knowledge_chunks_total") > value(before, "bizosaas_knowledge_chunks_total")
    assert value(after, "bizosaas_knowledge_ingest_seconds_count") == (
        value(before, "bizosaas_knowledge_ingest_seconds_count") + 2
    )


def test_an_agent_run_counts_its_status_and_tokens(api, db):
    org = AgentOrg("acme-agent-metrics")
    agent = org.agent(provider=org.provider())
    response = api.post(f"/api/v1/agents/{agent.pk}/runs/", {"input": "Say hello."}, **org.auth("member"))
    assert response.status_code == 202, response.content
    before = scrape()

    run = org.execute(response.json()["id"], scripted_llm([final("Hello.")], tokens=(100, 7)))

    assert run.status == "succeeded", run.error
    after = scrape()
    assert value(after, "bizosaas_agent_runs_total", status="succeeded") == (
        value(before, "bizosaas_agent_runs_total", status="succeeded") + 1
    )
    tokens = "bizosaas_agent_llm_tokens_total"
    assert value(after, tokens, kind="prompt") == value(before, tokens, kind="prompt") + 100
    assert value(after, tokens, kind="completion") == value(before, tokens, kind="completion") + 7
    assert value(after, "bizosaas_agent_run_seconds_count") == value(before, "bizosaas_agent_run_seconds_count") + 1


def test_a_workflow_run_that_ends_is_counted_by_template_and_status(api, db, schedules):  # noqa: F811
    import asyncio

    org = WorkflowOrg()
    config = create_config(api, org, schedules)
    run = api.post(f"/api/v1/workflows/configs/{config['id']}/run/", **org.auth("member")).json()
    before = scrape()

    cancelled = api.post(f"/api/v1/workflows/runs/{run['id']}/cancel/", **org.auth("member"))

    assert cancelled.status_code == 200
    after = scrape()
    name = "bizosaas_workflow_runs_total"
    labels = {"template": "connection_sync", "status": "cancelled"}
    assert value(after, name, **labels) == value(before, name, **labels) + 1
    asyncio.run(terminate(run["workflow_id"]))
