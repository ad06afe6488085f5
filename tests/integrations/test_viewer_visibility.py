"""What each role sees of the values that let their holder act: an inbound endpoint's routing token, a subscriber's
URL (often a capability URL), and the signature headers of received webhooks. Those who may configure webhooks
(admins, owners, API keys with webhooks:write) see them whole; viewers, members and read-only keys see where, not
how, so that reading the workspace is not enough to post into it or to replay what it received."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor
from apps.accounts.services import api_key_create
from apps.integrations.models import Event
from tests.integrations.conftest import hook_path

SUBSCRIBER = "http://127.0.0.1:9/services/T000/B000/XXXXcapabilityXXXX?token=abc"  # a capability URL


def key_auth(org, *scopes: str) -> dict:
    _key, secret = api_key_create(
        tenant=org.tenant, name="k-" + "-".join(scopes), scopes=list(scopes), expires_at=None, created_by=None,
        actor=Actor.system("test"),
    )  # fmt: skip
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def world(api, acme):
    shop = acme.connection("shopify", credentials={"webhook_secret": "shop-secret-0123456789"}, name="Shop")
    endpoint = acme.endpoint(api, connection=shop)
    subscription = api.post(
        "/api/v1/webhooks/subscriptions/", {"url": SUBSCRIBER, "event_types": ["*"]}, **acme.auth()
    ).json()
    return endpoint, subscription


def endpoint_as(api, org, endpoint, auth):
    listed = api.get("/api/v1/webhooks/endpoints/", **auth)
    one = api.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}/", **auth)
    assert listed.status_code == one.status_code == 200, (listed.content, one.content)
    return listed.json()["results"][0], one.json()


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_those_who_configure_webhooks_see_the_endpoint_url_whole(api, acme, world, who):
    endpoint, _subscription = world
    listed, one = endpoint_as(api, acme, endpoint, acme.auth(who))
    assert listed["url"] == one["url"] == endpoint["url"]
    assert listed["url_masked"] is False
    assert hook_path(endpoint) in one["url"]


@pytest.mark.parametrize("who", ["member", "viewer", "read-only key"])
def test_readers_get_the_endpoint_url_without_its_routing_token(api, acme, world, who):
    endpoint, _subscription = world
    auth = key_auth(acme, "webhooks:read") if who == "read-only key" else acme.auth(who)
    token = hook_path(endpoint).strip("/").rsplit("/", 1)[1]

    listed, one = endpoint_as(api, acme, endpoint, auth)
    overview = api.get("/api/v1/integrations/", **auth).json()

    for shown in (listed, one, overview["connections"][0]["endpoints"][0]):
        assert shown["url_masked"] is True
        assert token not in shown["url"] and shown["url"].endswith("/hooks/…/")
    assert token not in str(overview)


def test_a_key_with_webhooks_write_sees_the_url_whole(api, acme, world):
    endpoint, _subscription = world
    listed, _one = endpoint_as(api, acme, endpoint, key_auth(acme, "webhooks:read", "webhooks:write"))
    assert listed["url"] == endpoint["url"]


def test_readers_see_a_subscribers_host_but_not_its_path_or_query(api, acme, world):
    _endpoint, subscription = world
    assert subscription["url"] == SUBSCRIBER  # its creator (an admin) sees what they typed
    with schema_context(acme.schema):
        event = Event.objects.create(source=Event.Source.API, type="custom.order.created", payload={"n": 1})
    acme.process_pending()

    for auth, expected in ((acme.auth("viewer"), "http://127.0.0.1:9/…"), (acme.auth("admin"), SUBSCRIBER)):
        listed = api.get("/api/v1/webhooks/subscriptions/", **auth).json()["results"][0]
        one = api.get(f"/api/v1/webhooks/subscriptions/{subscription['id']}/", **auth).json()
        deliveries = api.get(f"/api/v1/webhooks/deliveries/?event={event.pk}", **auth).json()["results"]
        overview = api.get("/api/v1/integrations/", **auth).json()["unlinked"]["subscriptions"][0]
        assert listed["url"] == one["url"] == deliveries[0]["url"] == overview["url"] == expected
        assert listed["url_masked"] is (expected != SUBSCRIBER)


def test_signature_headers_are_not_stored_and_not_shown_if_stored_before(api, acme, world, post_hook):
    endpoint, _subscription = world
    body = b'{"id": 1, "total_price": "10.00"}'
    signature = base64.b64encode(hmac.new(b"shop-secret-0123456789", body, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Hmac-Sha256": signature, "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "w1"}
    accepted = post_hook(endpoint, body, headers)
    assert accepted.json()["status"] == "accepted", accepted.content
    with schema_context(acme.schema):
        stored = Event.objects.get(uid=accepted.json()["event"])
        assert "x-shopify-webhook-id" in stored.headers and "x-shopify-hmac-sha256" not in stored.headers
        # an event stored before signatures were dropped
        older = Event.objects.create(
            source=Event.Source.WEBHOOK, type="shopify.order.create", payload={}, external_id="old",
            headers={"x-shopify-hmac-sha256": signature, "x-hub-signature-256": "sha256=ab", "x-shopify-topic": "t"},
        )  # fmt: skip

    for who in ("admin", "viewer"):
        shown = api.get(f"/api/v1/events/{older.pk}/", **acme.auth(who)).json()["headers"]
        assert shown == {"x-shopify-topic": "t"}

    # with the signature out of sight, re-posting the signed body under a new delivery id is no new event either
    again = post_hook(endpoint, body, {**headers, "X-Shopify-Webhook-Id": "w2"})
    assert again.json()["status"] == "duplicate"


def test_the_migration_redacts_what_was_stored_before(acme):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.integrations.migrations.0007_redact_stored_secrets")
    token = "zoho-channel-token-0123456789"
    body = json.dumps({"token": token, "channel_id": "1", "operation": "insert", "ids": ["5"]}).encode()
    with schema_context(acme.schema):
        zoho = Event.objects.create(
            source=Event.Source.WEBHOOK, provider="zoho_crm", type="zoho_crm.lead.insert", external_id="z",
            payload=json.loads(body), body=body, headers={"x-zoho-signature": "s", "content-type": "application/json"},
        )  # fmt: skip
        migration.redact(apps, None)
        zoho.refresh_from_db()
    assert token not in bytes(zoho.body).decode() and token not in json.dumps(zoho.payload)
    assert zoho.payload["ids"] == ["5"] and zoho.headers == {"content-type": "application/json"}
