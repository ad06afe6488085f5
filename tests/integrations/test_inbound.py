"""The inbound webhook receiver, from the outside: `/hooks/<token>/` as each platform calls it, and the endpoint
API. Signatures are computed here from each platform's documented scheme, independently of the providers' code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from apps.connectors.models import Connection
from apps.integrations.inbound import normalise_type
from apps.integrations.models import Event, InboundEndpoint
from apps.integrations.routing.models import WebhookRoute

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-signing-0123456789"
WRONG = "not-the-secret-9876543210"
ENDPOINTS = "/api/v1/webhooks/endpoints/"
STALE_SECONDS = 10 * 60  # every timestamped scheme tolerates 5 minutes


def token_of(endpoint: dict) -> str:
    return endpoint["url"].rstrip("/").rsplit("/", 1)[1]


def called_url(endpoint: dict) -> str:
    """The absolute URL the test client's request arrives at (what a platform signing the URI signed)."""
    return f"http://localhost/hooks/{token_of(endpoint)}/"


def b64_hmac_sha256(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def stored_events(org) -> list[Event]:
    with schema_context(org.schema):
        return list(Event.objects.order_by("id"))


def endpoint_state(api, org, endpoint: dict) -> dict:
    response = api.get(f"{ENDPOINTS}{endpoint['id']}/", **org.auth())
    assert response.status_code == 200, response.content
    return response.json()


def tamper(body: bytes) -> bytes:
    """Adds a field to the first JSON object: still valid JSON, different bytes."""
    assert b"}" in body
    return body.replace(b"}", b', "tampered": true}', 1)


# --- each platform's scheme ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict
    query: str = ""


@dataclass(frozen=True)
class Case:
    provider: str
    secret_field: str
    expected_type: str
    # build(secret, url, at) -> the request the platform sends, signed (or carrying) `secret`, made at `at`
    build: Callable[[str, str, float], Request]
    config: dict = field(default_factory=dict)
    signs_body: bool = True  # False: a shared secret or credentials, the body itself is not signed
    timestamped: bool = False
    wrong_secret_reason: str = "wrong signature"

    def __str__(self) -> str:
        return self.provider


def shopify(secret: str, url: str, at: float) -> Request:
    body = json.dumps({"id": 820982911946154508, "email": "jon@example.com", "total_price": "10.00"}).encode()
    return Request(
        body,
        {
            "X-Shopify-Hmac-Sha256": b64_hmac_sha256(secret, body),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "X-Shopify-Shop-Domain": "acme.myshopify.com",
        },
    )


def woocommerce(secret: str, url: str, at: float) -> Request:
    body = json.dumps({"id": 727, "status": "processing", "total": "29.35"}).encode()
    return Request(
        body,
        {
            "X-WC-Webhook-Signature": b64_hmac_sha256(secret, body),
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-Delivery-ID": "e5c4a7b1d1",
        },
    )


def hubspot(secret: str, url: str, at: float) -> Request:
    timestamp = str(int(at * 1000))
    events = [
        {
            "eventId": 1791562396,
            "subscriptionId": 25,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(at * 1000),
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 123,
        }
    ]
    body = json.dumps(events).encode()
    signature = b64_hmac_sha256(secret, b"POST" + url.encode() + body + timestamp.encode())
    return Request(body, {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp})


def facebook_ads(secret: str, url: str, at: float) -> Request:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "153125381133",
                "time": int(at),
                "changes": [{"field": "leadgen", "value": {"leadgen_id": "444444444", "page_id": "153125381133"}}],
            }
        ],
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Request(body, {"X-Hub-Signature-256": signature})


def zendesk(secret: str, url: str, at: float) -> Request:
    # a trigger webhook whose JSON body the admin defined with a `type`
    body = json.dumps({"type": "ticket.created", "ticket": {"id": 7, "subject": "Printer on fire"}}).encode()
    timestamp = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = b64_hmac_sha256(secret, timestamp.encode() + body)
    return Request(body, {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": timestamp})


def intercom(secret: str, url: str, at: float) -> Request:
    payload = {
        "type": "notification_event",
        "id": "notif_ccd8a4d2-c7b0-44c7-8a2f-7c5f0a7b5f11",
        "topic": "contact.user.created",
        "app_id": "a86dr8yl",
        "created_at": int(at),
        "data": {"item": {"type": "contact", "id": "5f0a", "email": "ann@example.com"}},
    }
    body = json.dumps(payload).encode()
    signature = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return Request(body, {"X-Hub-Signature": signature})


PIPEDRIVE_USER = "bizosaas-hook"


def pipedrive(secret: str, url: str, at: float, *, user: str = PIPEDRIVE_USER) -> Request:
    payload = {
        "data": {"id": 5, "title": "Big deal", "value": 5000},
        "previous": {"value": 4000},
        "meta": {
            "id": "9b0e6a3c-2f7e-4a58-8f8a-1f0f3c2d7e11",
            "action": "change",
            "entity": "deal",
            "entity_id": "5",
            "correlation_id": "c0ffee",
            "timestamp": "2026-03-01T10:00:00.000Z",
            "version": "2.0",
        },
    }
    body = json.dumps(payload).encode()
    credentials = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return Request(body, {"Authorization": f"Basic {credentials}"})


def mailchimp(secret: str, url: str, at: float) -> Request:
    body = (
        b"type=subscribe&fired_at=2026-03-01+10%3A00%3A00&data%5Bid%5D=8a25ff1d98&data%5Blist_id%5D=a6b5da1054"
        b"&data%5Bemail%5D=api%40mailchimp.com&data%5Bmerges%5D%5BFNAME%5D=Ann"
    )
    return Request(body, {"Content-Type": "application/x-www-form-urlencoded"}, query=f"secret={secret}")


def wordpress(secret: str, url: str, at: float) -> Request:
    body = json.dumps({"event": "post.published", "id": 42, "modified_gmt": "2026-03-01T10:00:00"}).encode()
    return Request(body, {"X-BizOSaaS-Webhook-Secret": secret})


def fluentcrm(secret: str, url: str, at: float) -> Request:
    body = json.dumps({"event": "contact.created", "id": 9, "email": "ann@example.com"}).encode()
    return Request(body, {"X-BizOSaaS-Webhook-Secret": secret})


def zoho_crm(secret: str, url: str, at: float) -> Request:
    payload = {
        "server_time": int(at * 1000),
        "module": "Leads",
        "resource_uri": "https://www.zohoapis.com/crm/v8/Leads",
        "ids": ["4150868000001944196"],
        "affected_fields": [],
        "operation": "insert",
        "channel_id": "1000000068001",
        "token": secret,
    }
    return Request(json.dumps(payload).encode(), {})


CASES = [
    Case("shopify", "webhook_secret", "shopify.order.create", shopify),
    Case("woocommerce", "webhook_secret", "woocommerce.order.created", woocommerce),
    Case("hubspot", "client_secret", "hubspot.contact.creation", hubspot, timestamped=True),
    Case("facebook_ads", "app_secret", "facebook_ads.page.leadgen", facebook_ads),
    Case("zendesk", "webhook_secret", "zendesk.ticket.created", zendesk, timestamped=True),
    Case("intercom", "client_secret", "intercom.contact.user_created", intercom),
    Case(
        "pipedrive",
        "webhook_password",
        "pipedrive.deal.change",
        pipedrive,
        config={"webhook_user": PIPEDRIVE_USER},
        signs_body=False,
        wrong_secret_reason="wrong webhook credentials",
    ),
    Case(
        "mailchimp",
        "webhook_secret",
        "mailchimp.member.subscribe",
        mailchimp,
        signs_body=False,
        wrong_secret_reason="missing or wrong `secret`",
    ),
    Case(
        "wordpress",
        "webhook_secret",
        "wordpress.post.published",
        wordpress,
        signs_body=False,
        wrong_secret_reason="missing or wrong shared secret",
    ),
    Case(
        "fluentcrm",
        "webhook_secret",
        "fluentcrm.contact.created",
        fluentcrm,
        signs_body=False,
        wrong_secret_reason="missing or wrong shared secret",
    ),
    Case(
        "zoho_crm",
        "webhook_secret",
        "zoho_crm.lead.insert",
        zoho_crm,
        signs_body=False,
        wrong_secret_reason="missing or wrong notification channel token",
    ),
]
BODY_SIGNING = [case for case in CASES if case.signs_body]
TIMESTAMPED = [case for case in CASES if case.timestamped]


def provider_endpoint(api, org, case: Case) -> dict:
    connection = org.connection(case.provider, config=case.config, credentials={case.secret_field: SECRET})
    return org.endpoint(api, connection=connection, name=f"{case.provider} in")


def send(post_hook, endpoint: dict, request: Request, *, body: bytes | None = None):
    return post_hook(endpoint, request.body if body is None else body, request.headers, query=request.query)


def assert_rejected(api, org, endpoint: dict, response, reason: str, *, times: int = 1) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["detail"].startswith("Webhook verification failed: ")
    assert reason in response.json()["detail"]
    assert stored_events(org) == []
    state = endpoint_state(api, org, endpoint)
    assert state["rejected_count"] == times
    assert reason in state["last_rejection"]
    assert state["last_rejected_at"] is not None
    assert state["received_count"] == 0


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_genuine_webhook_is_stored_once_with_the_normalised_type(api, acme, post_hook, case):
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(SECRET, called_url(endpoint), time.time())

    response = send(post_hook, endpoint, request)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    assert response.json()["type"] == case.expected_type
    [event] = stored_events(acme)
    assert str(event.uid) == response.json()["event"]
    assert event.type == case.expected_type
    assert event.source == Event.Source.WEBHOOK
    assert event.provider == case.provider
    assert event.endpoint_id == endpoint["id"]
    assert event.external_id
    # kept as received, but a secret sent inside the body (Zoho CRM's channel token) is never stored
    assert bytes(event.body) == request.body.replace(SECRET.encode(), b"[redacted]")
    assert SECRET not in json.dumps(event.payload)
    assert event.status == Event.Status.PENDING
    state = endpoint_state(api, acme, endpoint)
    assert (state["received_count"], state["rejected_count"], state["duplicate_count"]) == (1, 0, 0)


@pytest.mark.parametrize("case", BODY_SIGNING, ids=str)
def test_a_tampered_body_is_rejected(api, acme, post_hook, case):
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(SECRET, called_url(endpoint), time.time())

    response = send(post_hook, endpoint, request, body=tamper(request.body))

    assert_rejected(api, acme, endpoint, response, "wrong signature")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_webhook_signed_with_another_secret_is_rejected(api, acme, post_hook, case):
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(WRONG, called_url(endpoint), time.time())

    response = send(post_hook, endpoint, request)

    assert_rejected(api, acme, endpoint, response, case.wrong_secret_reason)


@pytest.mark.parametrize("direction", [-1, 1], ids=["stale", "future"])
@pytest.mark.parametrize("case", TIMESTAMPED, ids=str)
def test_a_correctly_signed_webhook_outside_the_time_window_is_rejected(api, acme, post_hook, case, direction):
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(SECRET, called_url(endpoint), time.time() + direction * STALE_SECONDS)

    response = send(post_hook, endpoint, request)

    assert_rejected(api, acme, endpoint, response, "timestamp is more than 5 minutes away")


def test_hubspot_signs_the_uri_it_called_so_a_signature_for_another_url_is_rejected(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "hubspot")
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(SECRET, called_url(endpoint).replace("/hooks/", "/other/"), time.time())

    response = send(post_hook, endpoint, request)

    assert_rejected(api, acme, endpoint, response, "wrong signature")


def test_a_signature_without_its_secret_on_the_connection_is_rejected(api, acme, post_hook):
    connection = acme.connection("shopify", credentials={})
    endpoint = acme.endpoint(api, connection=connection)

    response = send(post_hook, endpoint, shopify(SECRET, called_url(endpoint), time.time()))

    assert_rejected(api, acme, endpoint, response, "no webhook secret is configured")


def test_pipedrive_checks_the_configured_user_as_well_as_the_password(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "pipedrive")
    endpoint = provider_endpoint(api, acme, case)

    response = send(post_hook, endpoint, pipedrive(SECRET, called_url(endpoint), time.time(), user="someone-else"))

    assert_rejected(api, acme, endpoint, response, "wrong webhook credentials")


def test_pipedrive_without_a_configured_user_accepts_any_user_with_the_password(api, acme, post_hook):
    connection = acme.connection("pipedrive", credentials={"webhook_password": SECRET})
    endpoint = acme.endpoint(api, connection=connection)

    response = send(post_hook, endpoint, pipedrive(SECRET, called_url(endpoint), time.time(), user="anyone"))

    assert response.status_code == 200, response.content
    assert [e.type for e in stored_events(acme)] == ["pipedrive.deal.change"]


def test_mailchimp_form_body_is_stored_as_nested_fields(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "mailchimp")
    endpoint = provider_endpoint(api, acme, case)

    response = send(post_hook, endpoint, mailchimp(SECRET, called_url(endpoint), time.time()))

    assert response.status_code == 200, response.content
    [event] = stored_events(acme)
    assert event.payload["type"] == "subscribe"
    assert event.payload["data"]["email"] == "api@mailchimp.com"
    assert event.payload["data"]["merges"] == {"FNAME": "Ann"}


def test_mailchimp_post_without_the_url_secret_is_rejected(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "mailchimp")
    endpoint = provider_endpoint(api, acme, case)
    request = mailchimp(SECRET, called_url(endpoint), time.time())

    response = post_hook(endpoint, request.body, request.headers)

    assert_rejected(api, acme, endpoint, response, "missing or wrong `secret`")


def test_zendesk_event_subscription_type_is_normalised_to_object_and_verb(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "zendesk")
    endpoint = provider_endpoint(api, acme, case)
    body = json.dumps(
        {
            "account_id": 22129848,
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "type": "zen:event-type:ticket.created",
            "subject": "zen:ticket:7",
            "time": "2026-03-01T10:00:00.000000000Z",
            "zendesk_event_version": "2022-11-06",
            "detail": {"id": "7", "subject": "Printer on fire"},
            "event": {},
        }
    ).encode()
    timestamp = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "X-Zendesk-Webhook-Signature": b64_hmac_sha256(SECRET, timestamp.encode() + body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }

    response = post_hook(endpoint, body, headers)

    assert response.status_code == 200, response.content
    assert response.json()["type"] == "zendesk.ticket.created"


# --- Standard Webhooks ---------------------------------------------------------------------------------------

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def standard_request(secret: str, body: dict | str, *, msg_id: str = "msg_1", at: float | None = None) -> Request:
    text = body if isinstance(body, str) else json.dumps(body)
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    signature = Webhook(secret).sign(msg_id, moment, text)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    return Request(text.encode(), headers)


def test_the_signing_secret_is_shown_once_at_creation(api, acme):
    endpoint = acme.endpoint(api, scheme="standard_webhooks", name="Backend")

    assert endpoint["signing_secret"].startswith("whsec_")
    assert len(base64.b64decode(endpoint["signing_secret"].removeprefix("whsec_"))) >= 24
    detail = endpoint_state(api, acme, endpoint)
    listed = api.get(ENDPOINTS, **acme.auth()).json()["results"]
    for shown in (detail, *listed):
        assert "signing_secret" not in shown
        assert endpoint["signing_secret"] not in json.dumps(shown)
    assert detail["secret_set"] is True
    assert detail["scheme"] == "standard_webhooks"
    assert detail["connection"] is None


def test_a_standard_webhook_without_a_connection_is_a_custom_event(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(
        endpoint["signing_secret"], {"type": "order.paid", "data": {"number": 7}}, msg_id="msg_order_7"
    )

    response = send(post_hook, endpoint, request)

    assert response.status_code == 200, response.content
    assert response.json()["type"] == "custom.order.paid"
    [event] = stored_events(acme)
    assert (event.type, event.raw_type, event.external_id) == ("custom.order.paid", "order.paid", "msg_order_7")
    assert event.payload == {"number": 7}
    assert event.provider == "custom"
    assert event.connection_id is None


def test_a_standard_webhook_with_a_connection_is_typed_by_its_connector(api, acme, post_hook):
    ads = acme.connection("google_ads")
    endpoint = acme.endpoint(api, connection=ads, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], {"type": "campaign.updated", "data": {"id": "c1"}})

    response = send(post_hook, endpoint, request)

    assert response.status_code == 200, response.content
    [event] = stored_events(acme)
    assert event.type == "google_ads.campaign.updated"
    assert event.connection_id == ads.pk


def test_our_library_signs_the_specification_example_exactly():
    moment = datetime.fromtimestamp(SPEC_TIMESTAMP, tz=UTC)

    assert Webhook(SPEC_SECRET).sign(SPEC_MSG_ID, moment, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specification_example_is_rejected_now_as_stale(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    with schema_context(acme.schema):  # arrange: the endpoint holds the specification's secret
        InboundEndpoint.objects.filter(pk=endpoint["id"]).update(secrets={"signing_secret": SPEC_SECRET})
    headers = {"webhook-id": SPEC_MSG_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}

    response = post_hook(endpoint, SPEC_BODY.encode(), headers)

    assert_rejected(api, acme, endpoint, response, "too old")
    # the same message signed now with the same secret is accepted: it was the timestamp, not the signature
    fresh = standard_request(SPEC_SECRET, SPEC_BODY, msg_id=SPEC_MSG_ID)
    assert send(post_hook, endpoint, fresh).status_code == 200
    assert [e.payload for e in stored_events(acme)] == [{"test": 2432232314}]


@pytest.mark.parametrize("direction", [-1, 1], ids=["stale", "future"])
def test_a_standard_webhook_outside_the_tolerance_is_rejected(api, acme, post_hook, direction):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], {"type": "a.b"}, at=time.time() + direction * STALE_SECONDS)

    response = send(post_hook, endpoint, request)

    assert_rejected(api, acme, endpoint, response, "too old" if direction < 0 else "too new")


def test_one_matching_signature_among_several_is_enough(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], {"type": "order.paid"})
    other = Webhook("whsec_" + base64.b64encode(b"x" * 24).decode()).sign("msg_1", datetime.now(tz=UTC), "{}")
    signatures = f"v2,{base64.b64encode(b'future-scheme').decode()} {other} {request.headers['webhook-signature']}"

    response = post_hook(endpoint, request.body, {**request.headers, "webhook-signature": signatures})

    assert response.status_code == 200, response.content
    assert len(stored_events(acme)) == 1


def test_several_signatures_none_matching_are_rejected(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], {"type": "order.paid"})
    wrong = standard_request("whsec_" + base64.b64encode(b"y" * 24).decode(), {"type": "order.paid"})
    signatures = f"{wrong.headers['webhook-signature']} {wrong.headers['webhook-signature']}"

    response = post_hook(endpoint, request.body, {**request.headers, "webhook-signature": signatures})

    assert_rejected(api, acme, endpoint, response, "no matching signature")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-signature", "garbage"),
        ("webhook-signature", "v1,not*base64!"),
        ("webhook-signature", "v1,a,b"),
        ("webhook-signature", "v1"),
        ("webhook-timestamp", "yesterday"),
        ("webhook-id", ""),
    ],
)
def test_malformed_standard_headers_are_rejected_not_an_error(api, acme, post_hook, header, value):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], {"type": "order.paid"})

    response = post_hook(endpoint, request.body, {**request.headers, header: value})

    assert response.status_code == 401, response.content
    assert stored_events(acme) == []
    assert endpoint_state(api, acme, endpoint)["rejected_count"] == 1


def test_a_signed_body_that_is_not_json_is_rejected(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    request = standard_request(endpoint["signing_secret"], "not json at all")

    response = send(post_hook, endpoint, request)

    assert_rejected(api, acme, endpoint, response, "body is not JSON")


def test_rotating_the_signing_secret_retires_the_old_one(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    old = endpoint["signing_secret"]

    rotated = api.post(f"{ENDPOINTS}{endpoint['id']}/rotate-secret/", **acme.auth())

    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["signing_secret"]
    assert new.startswith("whsec_") and new != old
    assert "signing_secret" not in endpoint_state(api, acme, endpoint)
    stale = send(post_hook, endpoint, standard_request(old, {"type": "a.b"}, msg_id="msg_old"))
    assert stale.status_code == 401
    fresh = send(post_hook, endpoint, standard_request(new, {"type": "a.b"}, msg_id="msg_new"))
    assert fresh.status_code == 200, fresh.content
    assert [e.external_id for e in stored_events(acme)] == ["msg_new"]


def test_a_provider_endpoint_has_no_secret_of_its_own_to_rotate(api, acme):
    endpoint = provider_endpoint(api, acme, CASES[0])

    response = api.post(f"{ENDPOINTS}{endpoint['id']}/rotate-secret/", **acme.auth())

    assert response.status_code == 400
    assert "scheme" in response.json()


# --- rejections, limits, dedup, stored headers ---------------------------------------------------------------


def test_rejections_are_counted_on_the_endpoint_and_nothing_is_stored(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])
    bad = shopify(WRONG, called_url(endpoint), time.time())

    first = send(post_hook, endpoint, bad)
    second = post_hook(endpoint, bad.body, {"X-Shopify-Topic": "orders/create"})

    assert first.json() == {"detail": "Webhook verification failed: wrong signature"}
    assert second.status_code == 401
    assert second.json() == {"detail": "Webhook verification failed: missing X-Shopify-Hmac-Sha256 header"}
    state = endpoint_state(api, acme, endpoint)
    assert state["rejected_count"] == 2
    assert state["last_rejection"] == "missing X-Shopify-Hmac-Sha256 header"
    assert stored_events(acme) == []
    # a genuine one afterwards is accepted and leaves the count alone
    assert send(post_hook, endpoint, shopify(SECRET, called_url(endpoint), time.time())).status_code == 200
    assert endpoint_state(api, acme, endpoint)["rejected_count"] == 2


def test_a_body_over_the_limit_is_refused_and_not_stored(api, acme, post_hook, settings):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    at_limit = standard_request(endpoint["signing_secret"], {"type": "a.b", "data": {"x": "y" * 20}}, msg_id="m1")
    settings.WEBHOOK_MAX_BODY_BYTES = len(at_limit.body)
    too_big = standard_request(endpoint["signing_secret"], {"type": "a.b", "data": {"x": "y" * 21}}, msg_id="m2")

    refused = send(post_hook, endpoint, too_big)
    accepted = send(post_hook, endpoint, at_limit)

    assert refused.status_code == 413, refused.content
    assert str(len(at_limit.body)) in refused.json()["detail"]
    assert accepted.status_code == 200, accepted.content
    assert [e.external_id for e in stored_events(acme)] == ["m1"]
    assert endpoint_state(api, acme, endpoint)["rejected_count"] == 0


def test_the_same_provider_event_twice_is_stored_once(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])
    request = shopify(SECRET, called_url(endpoint), time.time())

    first = send(post_hook, endpoint, request)
    second = send(post_hook, endpoint, request)

    assert first.json()["status"] == "accepted"
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert len(stored_events(acme)) == 1
    state = endpoint_state(api, acme, endpoint)
    assert (state["received_count"], state["duplicate_count"]) == (1, 1)
    # the delivery id is not signed: the same signed body under another one is the same event (a re-post of a
    # captured body, or the platform's own redelivery), while another topic is another event
    other = {**request.headers, "X-Shopify-Webhook-Id": "another-delivery"}
    assert post_hook(endpoint, request.body, other).json()["status"] == "duplicate"
    assert len(stored_events(acme)) == 1
    paid = {**request.headers, "X-Shopify-Topic": "orders/paid"}
    assert post_hook(endpoint, request.body, paid).json()["status"] == "accepted"
    assert sorted(e.type for e in stored_events(acme)) == ["shopify.order.create", "shopify.order.paid"]


def test_the_same_event_id_at_another_endpoint_is_not_a_duplicate(api, acme, post_hook):
    connection = acme.connection("shopify", credentials={"webhook_secret": SECRET})
    first = acme.endpoint(api, connection=connection, name="one")
    second = acme.endpoint(api, connection=connection, name="two")
    request = shopify(SECRET, "", time.time())

    assert send(post_hook, first, request).json()["status"] == "accepted"
    assert send(post_hook, second, request).json()["status"] == "accepted"
    assert sorted(e.endpoint_id for e in stored_events(acme)) == sorted([first["id"], second["id"]])


def test_a_repeated_standard_webhook_message_id_is_a_duplicate(api, acme, post_hook):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")
    secret = endpoint["signing_secret"]

    send(post_hook, endpoint, standard_request(secret, {"type": "a.b", "data": {"n": 1}}, msg_id="msg_same"))
    again = send(post_hook, endpoint, standard_request(secret, {"type": "a.b", "data": {"n": 1}}, msg_id="msg_same"))

    assert again.json()["status"] == "duplicate"
    assert len(stored_events(acme)) == 1
    assert endpoint_state(api, acme, endpoint)["duplicate_count"] == 1


@pytest.mark.parametrize(
    ("case", "secret_header"),
    [
        (next(c for c in CASES if c.provider == "wordpress"), "x-bizosaas-webhook-secret"),
        (next(c for c in CASES if c.provider == "fluentcrm"), "x-bizosaas-webhook-secret"),
        (next(c for c in CASES if c.provider == "pipedrive"), "authorization"),
    ],
    ids=str,
)
def test_stored_headers_carry_no_secret(api, acme, post_hook, case, secret_header):
    endpoint = provider_endpoint(api, acme, case)
    request = case.build(SECRET, called_url(endpoint), time.time())
    headers = {**request.headers, "X-Request-Trace": "trace-77", "X-Echo": f"prefix {SECRET} suffix"}

    response = post_hook(endpoint, request.body, headers)

    assert response.status_code == 200, response.content
    [event] = stored_events(acme)
    detail = api.get(f"/api/v1/events/{event.pk}/", **acme.auth())
    assert detail.status_code == 200
    shown = detail.json()
    for headers_seen in (event.headers, shown["headers"]):
        assert secret_header not in {name.lower() for name in headers_seen}
        assert "x-echo" not in headers_seen
        assert SECRET not in json.dumps(headers_seen)
        assert headers_seen["x-request-trace"] == "trace-77"
    assert base64.b64decode(shown["body_base64"]) == request.body
    assert shown["payload"] == json.loads(request.body)
    assert shown["type"] == case.expected_type


# --- handshakes ----------------------------------------------------------------------------------------------


def test_facebook_subscription_handshake_answers_the_challenge(api, acme, post_hook):
    connection = acme.connection("facebook_ads", credentials={"app_secret": SECRET})
    endpoint = acme.endpoint(api, connection=connection)
    verify_token = endpoint["verify_token"]
    assert verify_token
    assert "verify_token" not in endpoint_state(api, acme, endpoint)

    response = post_hook(
        endpoint,
        b"",
        query=f"hub.mode=subscribe&hub.verify_token={verify_token}&hub.challenge=123",
        method="get",
    )

    assert response.status_code == 200
    assert response.content == b"123"
    assert response["Content-Type"].startswith("text/plain")
    assert stored_events(acme) == []


def test_facebook_handshake_with_a_wrong_verify_token_is_rejected(api, acme, post_hook):
    connection = acme.connection("facebook_ads", credentials={"app_secret": SECRET})
    endpoint = acme.endpoint(api, connection=connection)

    response = post_hook(
        endpoint, b"", query="hub.mode=subscribe&hub.verify_token=guess&hub.challenge=123", method="get"
    )

    assert response.status_code == 401
    assert b"123" not in response.content
    assert endpoint_state(api, acme, endpoint)["last_rejection"] == "hub.verify_token does not match"


def test_facebook_handshake_with_the_app_secret_instead_of_the_verify_token_is_rejected(api, acme, post_hook):
    connection = acme.connection("facebook_ads", credentials={"app_secret": SECRET})
    endpoint = acme.endpoint(api, connection=connection)

    response = post_hook(
        endpoint, b"", query=f"hub.mode=subscribe&hub.verify_token={SECRET}&hub.challenge=123", method="get"
    )

    assert response.status_code == 401


def test_mailchimp_url_validation_needs_the_url_secret(api, acme, post_hook):
    connection = acme.connection("mailchimp", credentials={"webhook_secret": SECRET})
    endpoint = acme.endpoint(api, connection=connection)

    with_secret = post_hook(endpoint, b"", query=f"secret={SECRET}", method="get")
    without = post_hook(endpoint, b"", method="get")
    wrong = post_hook(endpoint, b"", query=f"secret={WRONG}", method="get")

    assert with_secret.status_code == 200
    assert with_secret.content == b""
    assert without.status_code == 401
    assert wrong.status_code == 401
    assert endpoint_state(api, acme, endpoint)["rejected_count"] == 2
    assert stored_events(acme) == []


# --- routing -------------------------------------------------------------------------------------------------


def test_an_unknown_token_is_not_found(acme, post_hook):
    response = post_hook({"url": "http://localhost:8000/hooks/no-such-token/"}, b"{}", {})

    assert response.status_code == 404
    assert response.json() == {"detail": "No such webhook endpoint."}


def set_provider(org, provider: str) -> None:
    with schema_context(org.schema):
        connection = Connection.objects.get()
        connection.provider = provider
        connection.save(update_fields=["provider"])  # its post_save drops the cached route, as a restart would


def test_an_endpoint_whose_connector_left_the_platform_answers_503_and_stores_nothing(api, acme, post_hook, caplog):
    """A connector taken out of the code leaves its connections' rows: their webhooks cannot be verified, so the
    platform is asked to send them again later (a 503, which providers retry) instead of an error page."""
    endpoint = provider_endpoint(api, acme, CASES[0])
    set_provider(acme, "retired_connector")
    genuine = shopify(SECRET, called_url(endpoint), time.time())

    response = send(post_hook, endpoint, genuine)

    assert response.status_code == 503, response.content
    assert "not available on the platform" in response.json()["detail"]
    assert stored_events(acme) == []
    assert "retired_connector" in caplog.text and "not registered" in caplog.text
    set_provider(acme, "shopify")  # a deployment that has it again (a new process: no cached route)
    assert send(post_hook, endpoint, genuine).status_code == 200  # sent again once the connector is back
    assert len(stored_events(acme)) == 1


def test_a_disabled_endpoint_is_not_found_until_enabled_again(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])
    request = shopify(SECRET, called_url(endpoint), time.time())

    patched = api.patch(f"{ENDPOINTS}{endpoint['id']}/", {"enabled": False}, **acme.auth())
    assert patched.status_code == 200, patched.content
    assert patched.json()["enabled"] is False
    disabled = send(post_hook, endpoint, request)
    api.patch(f"{ENDPOINTS}{endpoint['id']}/", {"enabled": True}, **acme.auth())
    enabled = send(post_hook, endpoint, request)

    assert disabled.status_code == 404
    assert enabled.status_code == 200, enabled.content
    assert len(stored_events(acme)) == 1


def test_a_deleted_endpoint_is_not_found(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])

    deleted = api.delete(f"{ENDPOINTS}{endpoint['id']}/", **acme.auth())
    response = send(post_hook, endpoint, shopify(SECRET, called_url(endpoint), time.time()))

    assert deleted.status_code == 204
    assert response.status_code == 404
    assert not WebhookRoute.objects.filter(token=token_of(endpoint)).exists()
    assert stored_events(acme) == []


def test_a_suspended_tenants_endpoint_is_not_found(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])
    acme.tenant.status = "suspended"
    acme.tenant.save()

    response = send(post_hook, endpoint, shopify(SECRET, called_url(endpoint), time.time()))

    assert response.status_code == 404
    assert stored_events(acme) == []


def test_one_tenants_endpoint_stores_only_into_that_tenant(api, acme, globex, post_hook):
    acme_endpoint = provider_endpoint(api, acme, CASES[0])
    globex_shop = globex.connection("shopify", credentials={"webhook_secret": WRONG})
    globex_endpoint = globex.endpoint(api, connection=globex_shop)

    to_acme = send(post_hook, acme_endpoint, shopify(SECRET, "", time.time()))
    globex_signed_to_acme = send(post_hook, acme_endpoint, shopify(WRONG, "", time.time()))
    to_globex = send(post_hook, globex_endpoint, shopify(WRONG, "", time.time()))

    assert to_acme.status_code == 200
    assert globex_signed_to_acme.status_code == 401
    assert to_globex.status_code == 200
    [acme_event] = stored_events(acme)
    [globex_event] = stored_events(globex)
    assert acme_event.endpoint_id == acme_endpoint["id"]
    assert globex_event.endpoint_id == globex_endpoint["id"]
    assert str(acme_event.uid) == to_acme.json()["event"]
    assert str(globex_event.uid) == to_globex.json()["event"]
    globex_listed = api.get("/api/v1/events/", **globex.auth()).json()["results"]
    assert [e["uid"] for e in globex_listed] == [str(globex_event.uid)]


def test_get_to_a_standard_webhooks_endpoint_is_not_allowed(api, acme, post_hook, client):
    endpoint = acme.endpoint(api, scheme="standard_webhooks")

    got = post_hook(endpoint, b"", method="get")
    deleted = client.delete(f"/hooks/{token_of(endpoint)}/", HTTP_HOST="localhost")

    assert got.status_code == 405
    assert deleted.status_code == 405
    assert endpoint_state(api, acme, endpoint)["rejected_count"] == 0


# --- endpoint API --------------------------------------------------------------------------------------------


def test_a_connector_that_sends_no_webhooks_cannot_have_a_provider_endpoint(api, acme):
    ads = acme.connection("google_ads")

    response = api.post(ENDPOINTS, {"name": "Ads", "scheme": "provider", "connection": ads.pk}, **acme.auth())

    assert response.status_code == 400
    assert "standard_webhooks" in response.json()["scheme"][0]
    with schema_context(acme.schema):
        assert not InboundEndpoint.objects.exists()


def test_a_provider_endpoint_needs_a_connection(api, acme):
    response = api.post(ENDPOINTS, {"name": "Orphan", "scheme": "provider"}, **acme.auth())

    assert response.status_code == 400
    assert "connection" in response.json()
    assert not WebhookRoute.objects.exists()


def test_another_tenants_connection_cannot_be_used(api, acme, globex):
    theirs = globex.connection("shopify", credentials={"webhook_secret": SECRET})

    response = api.post(ENDPOINTS, {"name": "Theirs", "connection": theirs.pk}, **acme.auth())

    assert response.status_code == 400
    assert "connection" in response.json()
    assert not WebhookRoute.objects.exists()


def test_a_viewer_may_list_endpoints_but_not_create_them(api, acme):
    provider_endpoint(api, acme, CASES[0])

    listed = api.get(ENDPOINTS, **acme.auth("viewer"))
    created = api.post(ENDPOINTS, {"name": "Mine", "scheme": "standard_webhooks"}, **acme.auth("viewer"))

    assert listed.status_code == 200
    assert [e["provider"] for e in listed.json()["results"]] == ["shopify"]
    assert created.status_code == 403
    with schema_context(acme.schema):
        assert InboundEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("connector", "raw", "expected"),
    [
        ("shopify", "orders/create", "shopify.order.create"),
        ("shopify", "customers/data_request", "shopify.customer.data_request"),
        ("shopify", "inventory_items/update", "shopify.inventory_item.update"),
        ("hubspot", "contact.creation", "hubspot.contact.creation"),
        ("hubspot", "contact.propertyChange", "hubspot.contact.propertychange"),
        ("zoho_crm", "Leads.create", "zoho_crm.lead.create"),
        ("mailchimp", "subscribe", "mailchimp.member.subscribe"),
        ("mailchimp", "campaign", "mailchimp.campaign.sent"),
        ("pipedrive", "deal.change", "pipedrive.deal.change"),
        ("woocommerce", "order.created", "woocommerce.order.created"),
        ("intercom", "contact.user.created", "intercom.contact.user_created"),
        ("custom", "ping", "custom.ping.event"),
        ("shopify", "", "shopify.webhook.received"),
        ("zendesk", "zen:event-type:ticket.created", "zendesk.ticket.created"),
    ],
)
def test_normalise_type(connector, raw, expected):
    assert normalise_type(connector, raw) == expected


# --- metrics -------------------------------------------------------------------------------------------------

METRIC = re.compile(r"^bizosaas_webhooks_received_total\{([^}]*)\} (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def webhook_metrics(api) -> dict[tuple[str, str], float]:
    """(provider, outcome) -> count, whatever order the exposition writes the labels in."""
    response = api.get("/metrics")
    assert response.status_code == 200
    counts = {}
    for labels, value in METRIC.findall(response.content.decode()):
        named = dict(LABEL.findall(labels))
        counts[named["provider"], named["outcome"]] = float(value)
    return counts


def test_received_webhooks_are_counted_by_provider_and_outcome(api, acme, post_hook):
    endpoint = provider_endpoint(api, acme, CASES[0])
    before = webhook_metrics(api)

    send(post_hook, endpoint, shopify(WRONG, "", time.time()))
    send(post_hook, endpoint, shopify(SECRET, "", time.time()))

    after = webhook_metrics(api)
    for outcome in ("rejected", "accepted"):
        key = ("shopify", outcome)
        assert key in after
        assert after[key] - before.get(key, 0.0) == 1.0


def test_woocommerces_unsigned_ping_on_saving_a_webhook_is_answered_200_and_stores_nothing(api, acme, post_hook):
    case = next(c for c in CASES if c.provider == "woocommerce")
    endpoint = provider_endpoint(api, acme, case)

    response = post_hook(endpoint, b"webhook_id=142", {"Content-Type": "application/x-www-form-urlencoded"})
    forged = post_hook(endpoint, b'{"id": 1}', {"Content-Type": "application/json"})

    assert response.status_code == 200, response.content  # WooCommerce shows the webhook as failing otherwise
    assert response.json()["status"] == "ping"
    assert forged.status_code == 401  # anything else unsigned is still refused
    assert stored_events(acme) == []
    state = endpoint_state(api, acme, endpoint)
    assert (state["received_count"], state["rejected_count"]) == (0, 1)
