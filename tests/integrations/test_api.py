"""The integrations API as tenants and external apps use it: the overview per connection, events in and out,
API key scopes, and isolation: one tenant can neither see nor change another's endpoints, events,
subscriptions, deliveries, rules or rule runs by any route."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_create
from apps.connectors.providers.wordpress import SECRET_HEADER
from apps.integrations.models import Delivery, Event, RuleRun

pytestmark = pytest.mark.django_db


def make_rule(api, org, **extra):
    body = {
        "name": "Forward orders",
        "trigger_event": "shopify.order.*",
        "actions": [{"type": "send_to_subscription", "subscription": extra.pop("subscription")}],
        **extra,
    }
    response = api.post("/api/v1/rules/", body, **org.auth())
    assert response.status_code == 201, response.content
    return response.json()


def make_subscription(api, org, url, types=("shopify.order.*",), **extra):
    response = api.post(
        "/api/v1/webhooks/subscriptions/", {"url": url, "event_types": list(types), **extra}, **org.auth()
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_overview_lists_per_connection_its_endpoints_subscriptions_and_rules(api, acme, httpserver):
    shop = acme.connection("shopify", credentials={"webhook_secret": "s"}, name="Main shop")
    crm = acme.connection("hubspot", credentials={"private_app_token": "t"}, name="CRM")
    endpoint = acme.endpoint(api, connection=shop, name="Shop orders")
    orders = make_subscription(api, acme, httpserver.url_for("/orders"))
    crm_only = make_subscription(api, acme, httpserver.url_for("/crm"), ["*.contact.*"], connection=crm.pk)
    everything = make_subscription(api, acme, httpserver.url_for("/all"), ["*"])
    rule = make_rule(api, acme, subscription=orders["id"], trigger_connection=shop.pk)
    api.patch(f"/api/v1/webhooks/subscriptions/{orders['id']}/", {"enabled": False}, **acme.auth())

    response = api.get("/api/v1/integrations/", **acme.auth("viewer"))

    assert response.status_code == 200
    rows = {row["connection"]["name"]: row for row in response.json()["connections"]}
    assert [e["id"] for e in rows["Main shop"]["endpoints"]] == [endpoint["id"]]
    assert rows["Main shop"]["endpoints"][0]["url_masked"] is True  # a viewer does not get the routing token
    assert rows["Main shop"]["endpoints"][0]["received_count"] == 0
    assert [(s["id"], s["status"]) for s in rows["Main shop"]["subscriptions"]] == [(orders["id"], "disabled")]
    assert [(r["id"], r["status"]) for r in rows["Main shop"]["rules"]] == [(rule["id"], "active")]
    assert [s["id"] for s in rows["CRM"]["subscriptions"]] == [crm_only["id"]]
    assert rows["CRM"]["endpoints"] == [] and rows["CRM"]["rules"] == []
    assert [s["id"] for s in response.json()["unlinked"]["subscriptions"]] == [everything["id"]]


def test_overview_counts_received_events_and_the_last_one(api, acme, post_hook):
    site = acme.connection("wordpress", credentials={"webhook_secret": "wp-secret"}, name="Blog")
    endpoint = acme.endpoint(api, connection=site)
    for number in (1, 2):
        body = f'{{"id": {number}, "event": "post.published"}}'.encode()
        assert post_hook(endpoint, body, {SECRET_HEADER: "wp-secret"}).status_code == 200
    assert post_hook(endpoint, b'{"id": 3}', {SECRET_HEADER: "wrong"}).status_code == 401

    row = api.get("/api/v1/integrations/", **acme.auth()).json()["connections"][0]

    with schema_context(acme.schema):
        last = Event.objects.latest("received_at").received_at
    assert row["endpoints"][0]["received_count"] == 2
    assert row["endpoints"][0]["rejected_count"] == 1
    assert row["endpoints"][0]["last_event_at"] == last.isoformat().replace("+00:00", "Z")


def test_external_app_posts_events_with_a_scoped_key_and_reads_them_back(api, acme):
    _, key = api_key_create(
        tenant=acme.tenant,
        created_by=acme.people["owner"],
        actor=Actor.for_user(acme.people["owner"]),
        name="ERP",
        scopes=["events:write", "events:read"],
        expires_at=None,
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    first = api.post(
        "/api/v1/events/",
        {"type": "erp.invoice.paid", "payload": {"amount": 120}, "idempotency_key": "inv-7"},
        **headers,
    )
    again = api.post(
        "/api/v1/events/",
        {"type": "erp.invoice.paid", "payload": {"amount": 120}, "idempotency_key": "inv-7"},
        **headers,
    )
    bad = api.post("/api/v1/events/", {"type": "Not A Type", "payload": {}}, **headers)
    listed = api.get("/api/v1/events/?type=erp.invoice.*", **headers)
    rules = api.get("/api/v1/rules/", **headers)

    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["uid"] == first.json()["uid"]
    assert bad.status_code == 400 and "type" in bad.json()
    assert [e["type"] for e in listed.json()["results"]] == ["erp.invoice.paid"]
    assert rules.status_code == 403  # no rules:read scope
    detail = api.get(f"/api/v1/events/{first.json()['id']}/", **headers).json()
    assert detail["payload"] == {"amount": 120} and detail["source"] == "api"


def test_events_filter_by_pattern_status_and_time_and_paginate(api, acme):
    for index in range(5):
        api.post("/api/v1/events/", {"type": "erp.order.created", "payload": {"n": index}}, **acme.auth("member"))
    api.post("/api/v1/events/", {"type": "erp.invoice.paid", "payload": {}}, **acme.auth("member"))

    page = api.get("/api/v1/events/?type=erp.order.created&limit=2&offset=2", **acme.auth("viewer")).json()
    wildcard = api.get("/api/v1/events/?type=*.invoice.*", **acme.auth("viewer")).json()
    pending = api.get("/api/v1/events/?status=pending", **acme.auth("viewer")).json()
    bad = api.get("/api/v1/events/?since=yesterday&status=nope", **acme.auth("viewer"))

    assert page["count"] == 5 and len(page["results"]) == 2
    assert [e["type"] for e in wildcard["results"]] == ["erp.invoice.paid"]
    assert pending["count"] == 6
    assert bad.status_code == 400


def test_a_viewer_may_read_but_not_post_events_or_configure(api, acme, httpserver):
    assert api.post("/api/v1/events/", {"type": "a.b.c", "payload": {}}, **acme.auth("viewer")).status_code == 403
    response = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/x"), "event_types": ["*"]},
        **acme.auth("member"),
    )
    assert response.status_code == 403
    assert api.get("/api/v1/integrations/", **acme.auth("viewer")).status_code == 200


def test_tenant_a_cannot_read_or_change_tenant_b_by_any_route(api, acme, globex, httpserver, post_hook):
    shop = acme.connection("shopify", credentials={"webhook_secret": "s"})
    endpoint = acme.endpoint(api, connection=shop)
    subscription = make_subscription(api, acme, httpserver.url_for("/r"))
    rule = make_rule(api, acme, subscription=subscription["id"])
    httpserver.expect_request("/r").respond_with_data("ok")
    event = api.post("/api/v1/events/", {"type": "shopify.order.create", "payload": {}}, **acme.auth()).json()
    acme.process_pending()
    with schema_context(acme.schema):
        delivery = Delivery.objects.get()
        run = RuleRun.objects.get()
    ids = {
        "webhooks/endpoints": endpoint["id"],
        "webhooks/subscriptions": subscription["id"],
        "webhooks/deliveries": delivery.pk,
        "events": event["id"],
        "rules": rule["id"],
        "rules/runs": run.pk,
    }
    other = globex.auth("owner")

    for route, ident in ids.items():
        listed = api.get(f"/api/v1/{route}/", **other).json()
        assert listed["count"] == 0, route
        assert api.get(f"/api/v1/{route}/{ident}/", **other).status_code == 404, route
    assert api.patch(f"/api/v1/webhooks/endpoints/{endpoint['id']}/", {"enabled": False}, **other).status_code == 404
    assert api.delete(f"/api/v1/webhooks/endpoints/{endpoint['id']}/", **other).status_code == 404
    assert api.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret/", **other).status_code == 404
    assert (
        api.patch(f"/api/v1/webhooks/subscriptions/{subscription['id']}/", {"url": "http://x"}, **other).status_code
        == 404
    )
    assert api.post(f"/api/v1/webhooks/subscriptions/{subscription['id']}/rotate-secret/", **other).status_code == 404
    assert (
        api.post(
            f"/api/v1/webhooks/subscriptions/{subscription['id']}/replay/", {"since": "2020-01-01T00:00:00Z"}, **other
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/webhooks/subscriptions/{subscription['id']}/", **other).status_code == 404
    assert api.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/replay/", **other).status_code == 404
    assert api.patch(f"/api/v1/rules/{rule['id']}/", {"enabled": False}, **other).status_code == 404
    assert (
        api.post(f"/api/v1/rules/{rule['id']}/test/", {"event": {"type": "shopify.order.create"}}, **other).status_code
        == 404
    )
    assert api.delete(f"/api/v1/rules/{rule['id']}/", **other).status_code == 404
    # references to another tenant's objects are refused, not followed
    assert api.post("/api/v1/webhooks/endpoints/", {"name": "x", "connection": shop.pk}, **other).status_code == 400
    assert (
        api.post(
            "/api/v1/rules/",
            {
                "name": "x",
                "trigger_event": "*",
                "actions": [{"type": "send_to_subscription", "subscription": subscription["id"]}],
            },
            **other,
        ).status_code
        == 400
    )
    overview = api.get("/api/v1/integrations/", **other).json()
    assert overview == {"connections": [], "unlinked": {"endpoints": [], "subscriptions": [], "rules": []}}
    # and everything of acme is still there, unchanged
    assert api.get(f"/api/v1/rules/{rule['id']}/", **acme.auth()).json()["enabled"] is True
    assert api.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}/", **acme.auth()).json()["enabled"] is True
