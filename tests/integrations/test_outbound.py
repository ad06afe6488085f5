"""Outbound webhooks as a tenant's receiving endpoint sees them: subscriptions, Standard Webhooks signatures and
secret rotation, retries on the schedule, 410 and sustained-failure disabling, timeouts, replay, the deliveries
API and tenant isolation. The receiver is a loopback pytest-httpserver; worker steps run in the tenant schema."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Response

from apps.integrations import dispatch, outbound
from apps.integrations.models import Delivery, DeliveryAttempt, Event, Subscription

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions/"
DELIVERIES = "/api/v1/webhooks/deliveries/"
EVENTS = "/api/v1/events/"


# --- helpers -------------------------------------------------------------------------------------------------


def subscribe(api, org, url: str, event_types: list, **extra) -> dict:
    response = api.post(SUBSCRIPTIONS, {"url": url, "event_types": event_types, **extra}, **org.auth("admin"))
    assert response.status_code == 201, response.content
    return response.json()


def post_event(api, org, event_type: str, payload: dict, *, role: str = "member", **extra) -> dict:
    response = api.post(EVENTS, {"type": event_type, "payload": payload, **extra}, **org.auth(role))
    assert response.status_code == 202, response.content
    return response.json()


def delivery_of(org, *, event_id: int, subscription_id: int) -> Delivery:
    with schema_context(org.schema):
        return Delivery.objects.get(event_id=event_id, subscription_id=subscription_id)


def fan_out_and_deliver(org) -> list[int]:
    """The worker: fan out every pending event, then try every due delivery once. Returns the delivery ids."""
    org.process_pending()
    with schema_context(org.schema):
        due = list(
            Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now())
            .order_by("id")
            .values_list("pk", flat=True)
        )
    for delivery_id in due:
        org.run(dispatch.delivery_send, delivery_id)
    return due


def make_due(org, delivery_id: int) -> None:
    """Time travel: the scheduled retry is due now."""
    with schema_context(org.schema):
        Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def delivery_detail(api, org, delivery_id: int, *, role: str = "viewer") -> dict:
    response = api.get(f"{DELIVERIES}{delivery_id}/", **org.auth(role))
    assert response.status_code == 200, response.content
    return response.json()


def subscription_row(org, subscription_id: int) -> Subscription:
    with schema_context(org.schema):
        return Subscription.objects.get(pk=subscription_id)


def received(httpserver, path: str) -> list[tuple[bytes, dict]]:
    return [(req.get_data(), dict(req.headers)) for req, _ in httpserver.log if req.path == path]


def seconds_until(moment: str | None) -> float:
    assert moment is not None
    return (parse_datetime(moment) - timezone.now()).total_seconds()


def metric(api, name: str, labels: str) -> float:
    response = api.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- 1. subscriptions API ------------------------------------------------------------------------------------


def test_the_signing_secret_is_returned_once_at_creation_and_never_again(api, acme, httpserver):
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.order.*"], description="Orders to ERP")

    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 20
    assert created["event_types"] == ["shop.order.*"]
    assert created["enabled"] is True
    detail = api.get(f"{SUBSCRIPTIONS}{created['id']}/", **acme.auth("admin"))
    listing = api.get(SUBSCRIPTIONS, **acme.auth("admin"))
    patched = api.patch(f"{SUBSCRIPTIONS}{created['id']}/", {"description": "ERP"}, **acme.auth("admin"))
    for response in (detail, listing, patched):
        assert response.status_code == 200
        assert "secret" not in response.content.decode().replace("secret_rotation_ends_at", "")
        assert secret not in response.content.decode()
    assert detail.json()["url"] == httpserver.url_for("/hook")
    assert [row["id"] for row in listing.json()["results"]] == [created["id"]]


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://example.com/hook", "http://10.1.2.3/x", "http://169.254.169.254/latest", ""],
)
def test_bad_or_private_urls_are_refused_on_the_url_field(api, acme, url):
    response = api.post(SUBSCRIPTIONS, {"url": url, "event_types": ["shop.*"]}, **acme.auth("admin"))

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["url"]
    with schema_context(acme.schema):
        assert not Subscription.objects.exists()


def test_with_private_addresses_allowed_link_local_addresses_are_still_refused(api, acme, settings):
    settings.CONNECTORS_ALLOW_PRIVATE = True  # e.g. a self-hosted install delivering to its own network

    allowed = api.post(SUBSCRIPTIONS, {"url": "http://10.1.2.3/x", "event_types": ["shop.*"]}, **acme.auth("admin"))
    refused = api.post(
        SUBSCRIPTIONS, {"url": "http://169.254.169.254/latest", "event_types": ["shop.*"]}, **acme.auth("admin")
    )

    assert allowed.status_code == 201
    assert refused.status_code == 400
    assert list(refused.json()) == ["url"]


def test_an_ipv4_mapped_metadata_address_is_refused_when_private_addresses_are_allowed(api, acme, settings):
    settings.CONNECTORS_ALLOW_PRIVATE = True

    response = api.post(
        SUBSCRIPTIONS,
        {"url": "http://[::ffff:169.254.169.254]/latest", "event_types": ["shop.*"]},
        **acme.auth("admin"),
    )

    assert response.status_code == 400
    assert list(response.json()) == ["url"]


def test_a_private_url_is_also_refused_when_changing_the_url(api, acme, httpserver):
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])

    response = api.patch(
        f"{SUBSCRIPTIONS}{created['id']}/", {"url": "http://169.254.169.254/latest"}, **acme.auth("admin")
    )

    assert response.status_code == 400
    assert "url" in response.json()
    assert subscription_row(acme, created["id"]).url == httpserver.url_for("/hook")


def test_each_bad_event_type_pattern_is_reported_by_its_index(api, acme, httpserver):
    body = {"url": httpserver.url_for("/hook"), "event_types": ["shop.order.*", "Shop Order!", "ok.one", "a..b"]}

    response = api.post(SUBSCRIPTIONS, body, **acme.auth("admin"))

    assert response.status_code == 400
    assert set(response.json()) == {"event_types.1", "event_types.3"}
    for bad in ([], "shop.*", None):
        response = api.post(SUBSCRIPTIONS, {**body, "event_types": bad}, **acme.auth("admin"))
        assert response.status_code == 400
        assert "event_types" in response.json()
    with schema_context(acme.schema):
        assert not Subscription.objects.exists()


def test_url_and_event_type_errors_are_reported_together(api, acme):
    response = api.post(SUBSCRIPTIONS, {"url": "http://10.1.2.3/x", "event_types": ["BAD"]}, **acme.auth("admin"))

    assert response.status_code == 400
    assert set(response.json()) == {"url", "event_types.0"}


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("member", 403), ("admin", 201), ("owner", 201)])
def test_only_admins_create_subscriptions(api, acme, httpserver, role, status):
    response = api.post(
        SUBSCRIPTIONS, {"url": httpserver.url_for("/hook"), "event_types": ["shop.*"]}, **acme.auth(role)
    )

    assert response.status_code == status, response.content
    with schema_context(acme.schema):
        assert Subscription.objects.count() == (1 if status == 201 else 0)


def test_members_cannot_rotate_change_or_delete_a_subscription(api, acme, httpserver):
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    path = f"{SUBSCRIPTIONS}{created['id']}/"

    assert api.patch(path, {"enabled": False}, **acme.auth("member")).status_code == 403
    assert api.post(f"{path}rotate-secret/", **acme.auth("member")).status_code == 403
    assert api.delete(path, **acme.auth("member")).status_code == 403
    assert api.get(path, **acme.auth("viewer")).status_code == 200

    row = subscription_row(acme, created["id"])
    assert row.enabled is True
    assert "previous" not in row.secrets


def test_only_events_matching_a_pattern_are_delivered(api, acme, httpserver):
    httpserver.expect_request("/orders").respond_with_data("ok")
    httpserver.expect_request("/paid").respond_with_data("ok")
    httpserver.expect_request("/customers").respond_with_data("ok")
    orders = subscribe(api, acme, httpserver.url_for("/orders"), ["shop.order.*"])
    paid = subscribe(api, acme, httpserver.url_for("/paid"), ["shop.order.paid"])
    customers = subscribe(api, acme, httpserver.url_for("/customers"), ["*.customer.created"])

    events = {
        kind: post_event(api, acme, kind, {"n": i})["id"]
        for i, kind in enumerate(
            ["shop.order.created", "shop.order.paid", "shop.order.refund.partial", "crm.customer.created", "shop.x.y"]
        )
    }
    fan_out_and_deliver(acme)

    with schema_context(acme.schema):
        pairs = set(Delivery.objects.values_list("event__type", "subscription_id"))
        assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}
        assert Event.objects.filter(status=Event.Status.PROCESSED).count() == len(events)
    assert pairs == {
        ("shop.order.created", orders["id"]),
        ("shop.order.paid", orders["id"]),
        ("shop.order.refund.partial", orders["id"]),
        ("shop.order.paid", paid["id"]),
        ("crm.customer.created", customers["id"]),
    }
    types = {path: sorted(json.loads(body)["type"] for body, _ in received(httpserver, path)) for path in ("/orders",)}
    assert types["/orders"] == ["shop.order.created", "shop.order.paid", "shop.order.refund.partial"]
    assert [json.loads(b)["type"] for b, _ in received(httpserver, "/paid")] == ["shop.order.paid"]
    assert [json.loads(b)["type"] for b, _ in received(httpserver, "/customers")] == ["crm.customer.created"]


def test_a_subscription_with_a_connection_only_gets_that_connections_events(api, acme, httpserver):
    shop = acme.connection("shopify", config={"shop": "acme"})
    other = acme.connection("shopify", config={"shop": "acme-eu"}, name="EU shop")
    httpserver.expect_request("/one-shop").respond_with_data("ok")
    httpserver.expect_request("/all-shops").respond_with_data("ok")
    one = subscribe(api, acme, httpserver.url_for("/one-shop"), ["shop.order.*"], connection=shop.pk)
    every = subscribe(api, acme, httpserver.url_for("/all-shops"), ["shop.order.*"])
    assert one["connection"] == shop.pk

    from_shop = post_event(api, acme, "shop.order.created", {"shop": "main"}, connection=shop.pk)
    from_other = post_event(api, acme, "shop.order.created", {"shop": "eu"}, connection=other.pk)
    from_nowhere = post_event(api, acme, "shop.order.created", {"shop": None})
    fan_out_and_deliver(acme)

    with schema_context(acme.schema):
        assert list(Delivery.objects.filter(subscription_id=one["id"]).values_list("event_id", flat=True)) == [
            from_shop["id"]
        ]
        assert set(Delivery.objects.filter(subscription_id=every["id"]).values_list("event_id", flat=True)) == {
            from_shop["id"],
            from_other["id"],
            from_nowhere["id"],
        }
    [(body, _)] = received(httpserver, "/one-shop")
    assert json.loads(body)["data"]["payload"] == {"shop": "main"}
    assert json.loads(body)["data"]["connection_id"] == shop.pk


def test_an_unknown_connection_is_refused(api, acme, httpserver):
    response = api.post(
        SUBSCRIPTIONS,
        {"url": httpserver.url_for("/hook"), "event_types": ["shop.*"], "connection": 987654},
        **acme.auth("admin"),
    )

    assert response.status_code == 400
    assert "connection" in response.json()


# --- 2. signing ----------------------------------------------------------------------------------------------


def test_deliveries_are_signed_with_standard_webhooks(api, acme, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks")
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.order.*"])
    event = post_event(api, acme, "shop.order.created", {"id": 7, "total": "12.50", "tags": ["a", "é"]})

    [delivery_id] = fan_out_and_deliver(acme)

    [(body, headers)] = received(httpserver, "/hook")
    verified = Webhook(created["secret"]).verify(body, headers)
    assert verified["type"] == "shop.order.created"
    assert parse_datetime(verified["timestamp"]) is not None
    assert verified["data"]["payload"] == {"id": 7, "total": "12.50", "tags": ["a", "é"]}
    assert verified["data"]["event_id"] == event["uid"]
    assert verified["data"]["source"] == "api"
    assert headers["Content-Type"] == "application/json"
    assert headers["Webhook-Id"] == delivery_detail(api, acme, delivery_id)["msg_id"]
    assert headers["Webhook-Id"] == "msg_" + event["uid"].replace("-", "")
    assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 30
    assert len(headers["Webhook-Signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # a tampered body does not verify
        Webhook(created["secret"]).verify(body.replace(b"12.50", b"0.01"), headers)


def test_after_rotation_both_secrets_verify_during_the_grace_period(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    old = created["secret"]

    rotated = api.post(f"{SUBSCRIPTIONS}{created['id']}/rotate-secret/", **acme.auth("admin"))

    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert 23 * 3600 < seconds_until(rotated.json()["previous_secret_valid_until"]) <= 24 * 3600
    shown = api.get(f"{SUBSCRIPTIONS}{created['id']}/", **acme.auth("admin")).json()
    assert shown["secret_rotation_ends_at"] == rotated.json()["previous_secret_valid_until"]
    assert new not in json.dumps(shown) and old not in json.dumps(shown)

    post_event(api, acme, "shop.order.created", {"id": 1})
    fan_out_and_deliver(acme)

    [(body, headers)] = received(httpserver, "/hook")
    assert len(headers["Webhook-Signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers)["data"]["payload"] == {"id": 1}
    assert Webhook(old).verify(body, headers)["data"]["payload"] == {"id": 1}


def test_after_the_grace_period_only_the_new_secret_verifies(api, acme, httpserver, settings):
    settings.WEBHOOK_SECRET_GRACE_SECONDS = 0
    httpserver.expect_request("/hook").respond_with_data("ok")
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    old = created["secret"]
    new = api.post(f"{SUBSCRIPTIONS}{created['id']}/rotate-secret/", **acme.auth("admin")).json()["secret"]

    post_event(api, acme, "shop.order.created", {"id": 2})
    fan_out_and_deliver(acme)

    [(body, headers)] = received(httpserver, "/hook")
    assert len(headers["Webhook-Signature"].split(" ")) == 1
    assert Webhook(new).verify(body, headers)["type"] == "shop.order.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


# --- 3. retries ----------------------------------------------------------------------------------------------


def test_a_500_is_retried_after_about_five_seconds_and_then_succeeds(api, acme, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("database down", status=500)
    httpserver.expect_request("/hook").respond_with_data('{"received": true}', content_type="application/json")
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 3})

    [delivery_id] = fan_out_and_deliver(acme)

    first = delivery_detail(api, acme, delivery_id)
    assert first["status"] == "pending"
    assert first["attempts"] == 1
    assert first["last_status_code"] == 500
    assert first["last_error"] == "HTTP 500"
    assert 4.4 <= seconds_until(first["next_attempt_at"]) <= 5.5  # 5 s, 10 % jitter
    assert subscription_row(acme, created["id"]).consecutive_failures == 1

    acme.run(dispatch.delivery_send, delivery_id)  # not due yet: nothing is sent
    assert len(received(httpserver, "/hook")) == 1
    make_due(acme, delivery_id)
    acme.run(dispatch.delivery_send, delivery_id)

    done = delivery_detail(api, acme, delivery_id, role="admin")
    assert done["status"] == "succeeded"
    assert done["attempts"] == 2
    assert done["succeeded_at"] is not None and done["next_attempt_at"] is None
    log = sorted(done["attempt_log"], key=lambda row: row["number"])
    assert [(row["number"], row["status_code"], row["trigger"]) for row in log] == [
        (1, 500, "scheduled"),
        (2, 200, "scheduled"),
    ]
    assert [row["response_excerpt"] for row in log] == ["database down", '{"received": true}']
    assert all(isinstance(row["latency_ms"], int) and row["latency_ms"] >= 0 for row in log)
    assert [row["error"] for row in log] == ["", ""]
    requests = received(httpserver, "/hook")
    assert len(requests) == 2
    assert requests[0][1]["Webhook-Id"] == requests[1][1]["Webhook-Id"] == done["msg_id"]
    assert requests[0][0] == requests[1][0]  # the same message, byte for byte
    sub = subscription_row(acme, created["id"])
    assert sub.consecutive_failures == 0 and sub.failing_since is None and sub.last_success_at is not None


def test_a_429_with_retry_after_is_not_retried_before_then(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 4})

    [delivery_id] = fan_out_and_deliver(acme)

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "pending"
    assert detail["last_status_code"] == 429
    assert 118 <= seconds_until(detail["next_attempt_at"]) <= 121
    acme.run(dispatch.delivery_send, delivery_id)
    assert len(received(httpserver, "/hook")) == 1


def test_the_whole_schedule_is_followed_then_the_delivery_fails(api, acme, httpserver, settings):
    httpserver.expect_request("/hook").respond_with_data("nope", status=503)
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 5})
    schedule = settings.WEBHOOK_RETRY_SCHEDULE

    [delivery_id] = fan_out_and_deliver(acme)
    for number, planned in enumerate(schedule[1:], start=1):
        detail = delivery_detail(api, acme, delivery_id)
        assert (detail["status"], detail["attempts"]) == ("pending", number)
        assert planned * 0.9 - 1 <= seconds_until(detail["next_attempt_at"]) <= planned * 1.1
        make_due(acme, delivery_id)
        acme.run(dispatch.delivery_send, delivery_id)

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "failed"
    assert detail["attempts"] == len(schedule)
    assert detail["next_attempt_at"] is None
    assert len(detail["attempt_log"]) == len(schedule)
    assert len(received(httpserver, "/hook")) == len(schedule)
    acme.run(dispatch.delivery_send, delivery_id)  # a failed delivery is not tried again by the worker
    assert len(received(httpserver, "/hook")) == len(schedule)
    assert subscription_row(acme, created["id"]).enabled is True  # defaults need days of failure to disable


def test_retry_after_is_honoured_only_up_to_the_cap(api, acme, httpserver, settings):
    settings.WEBHOOK_MAX_RETRY_AFTER = 600
    httpserver.expect_request("/hook").respond_with_data("busy", status=503, headers={"Retry-After": "999999"})
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 4})

    [delivery_id] = fan_out_and_deliver(acme)

    assert 598 <= seconds_until(delivery_detail(api, acme, delivery_id)["next_attempt_at"]) <= 601


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": "/elsewhere"})
    httpserver.expect_request("/elsewhere").respond_with_data("ok")
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 4})

    [delivery_id] = fan_out_and_deliver(acme)

    detail = delivery_detail(api, acme, delivery_id)
    assert (detail["status"], detail["last_status_code"], detail["last_error"]) == ("pending", 302, "HTTP 302")
    assert received(httpserver, "/elsewhere") == []


def test_the_attempt_log_keeps_only_the_first_256_characters_of_a_response(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("E" * 300 + "TAIL" + "x" * 20000, status=500)
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 4})

    [delivery_id] = fan_out_and_deliver(acme)

    [attempt] = delivery_detail(api, acme, delivery_id, role="owner")["attempt_log"]
    assert attempt["response_excerpt"] == "E" * 256
    assert attempt["status_code"] == 500
    with schema_context(acme.schema):
        assert DeliveryAttempt.objects.get(delivery_id=delivery_id).response_excerpt == "E" * 256


@pytest.mark.parametrize(
    ("role", "sees_the_answer"), [("owner", True), ("admin", True), ("member", False), ("viewer", False)]
)
def test_only_those_who_configure_webhooks_read_what_a_receiver_answered(api, acme, httpserver, role, sees_the_answer):
    # the start of an answer is a read-back channel into wherever the URL points: viewers get status and timing
    httpserver.expect_request("/hook").respond_with_data('{"internal": "token-from-the-receiver"}', status=502)
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 5})
    [delivery_id] = fan_out_and_deliver(acme)

    [attempt] = delivery_detail(api, acme, delivery_id, role=role)["attempt_log"]

    assert attempt["response_excerpt"] == ('{"internal": "token-from-the-receiver"}' if sees_the_answer else None)
    assert (attempt["status_code"], attempt["error"], attempt["number"]) == (502, "", 1)
    assert isinstance(attempt["latency_ms"], int)


@pytest.mark.parametrize(
    ("scopes", "sees_the_answer"), [(["webhooks:read"], False), (["webhooks:read", "webhooks:write"], True)]
)
def test_an_api_key_reads_what_a_receiver_answered_only_with_the_webhooks_write_scope(
    api, acme, httpserver, scopes, sees_the_answer
):
    from apps.accounts.audit.services import Actor
    from apps.accounts.services import api_key_create

    httpserver.expect_request("/hook").respond_with_data("receiver says no", status=400)
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 6})
    [delivery_id] = fan_out_and_deliver(acme)
    _key, secret = api_key_create(
        tenant=acme.tenant, name="ci", scopes=scopes, expires_at=None, created_by=None, actor=Actor.system("test")
    )

    response = api.get(f"{DELIVERIES}{delivery_id}/", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200, response.content
    [attempt] = response.json()["attempt_log"]
    assert attempt["response_excerpt"] == ("receiver says no" if sees_the_answer else None)
    assert attempt["status_code"] == 400


# --- 4. 410 Gone ---------------------------------------------------------------------------------------------


def test_410_gone_disables_the_subscription_and_raises_an_event(api, acme, httpserver):
    httpserver.expect_request("/gone").respond_with_data("unsubscribed", status=410)
    httpserver.expect_request("/ops").respond_with_data("ok")
    gone = subscribe(api, acme, httpserver.url_for("/gone"), ["shop.order.*"])
    ops = subscribe(api, acme, httpserver.url_for("/ops"), ["bizosaas.*"])
    post_event(api, acme, "shop.order.created", {"id": 6})

    [delivery_id] = fan_out_and_deliver(acme)

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "failed"
    assert detail["attempts"] == 1
    assert detail["last_status_code"] == 410
    shown = api.get(f"{SUBSCRIPTIONS}{gone['id']}/", **acme.auth("viewer")).json()
    assert shown["enabled"] is False
    assert "410" in shown["disabled_reason"]
    assert shown["disabled_at"] is not None
    with schema_context(acme.schema):
        notice = Event.objects.get(type="bizosaas.subscription.disabled")
        assert notice.payload["subscription_id"] == gone["id"]
        assert notice.payload["url"] == httpserver.url_for("/gone")
        assert "410" in notice.payload["reason"]
        assert notice.source == Event.Source.SYSTEM

    fan_out_and_deliver(acme)

    [(body, headers)] = received(httpserver, "/ops")
    message = Webhook(ops["secret"]).verify(body, headers)
    assert message["type"] == "bizosaas.subscription.disabled"
    assert message["data"]["payload"]["subscription_id"] == gone["id"]
    assert len(received(httpserver, "/gone")) == 1
    with schema_context(acme.schema):  # the disabled subscription does not get its own notice
        assert not Delivery.objects.filter(subscription_id=gone["id"], event=notice).exists()


# --- 5. timeouts ---------------------------------------------------------------------------------------------


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt_retried_later(api, acme, httpserver, settings):
    settings.WEBHOOK_TIMEOUT = 0.5

    def slow(request):
        time.sleep(1.5)
        return Response("too late", status=200)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    subscribe(api, acme, httpserver.url_for("/slow"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 8})

    started = time.monotonic()
    [delivery_id] = fan_out_and_deliver(acme)  # no exception escapes
    elapsed = time.monotonic() - started

    assert elapsed < 1.4
    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "pending"
    assert detail["succeeded_at"] is None
    assert detail["last_status_code"] is None
    assert "Timed out" in detail["last_error"]
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] is None
    assert attempt["error"] == "Timed out: no complete answer within 0.5 s."
    assert 400 <= attempt["latency_ms"] < 1400
    assert 4.4 <= seconds_until(detail["next_attempt_at"]) <= 5.5
    deadline = time.monotonic() + 2.5  # let the slow handler finish before the next test uses the server
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(httpserver.log) == 1


# --- 6. sustained failure ------------------------------------------------------------------------------------


def test_sustained_failure_disables_a_subscription_and_a_success_resets_the_streak(api, acme, httpserver, settings):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 3
    settings.WEBHOOK_RETRY_SCHEDULE = (0, 5)
    answer = {"status": 500}
    httpserver.expect_request("/flaky").respond_with_handler(lambda request: Response("x", status=answer["status"]))
    created = subscribe(api, acme, httpserver.url_for("/flaky"), ["shop.*"])

    def one_event_until_done(number: int) -> dict:
        post_event(api, acme, "shop.order.created", {"n": number})
        [delivery_id] = fan_out_and_deliver(acme)
        while delivery_detail(api, acme, delivery_id)["status"] == "pending":
            make_due(acme, delivery_id)
            acme.run(dispatch.delivery_send, delivery_id)
        return delivery_detail(api, acme, delivery_id)

    first = one_event_until_done(1)
    assert (first["status"], first["attempts"]) == ("failed", 2)
    sub = subscription_row(acme, created["id"])
    assert (sub.enabled, sub.consecutive_failures) == (True, 2)
    assert sub.failing_since is not None

    answer["status"] = 204
    assert one_event_until_done(2)["status"] == "succeeded"
    sub = subscription_row(acme, created["id"])
    assert (sub.consecutive_failures, sub.failing_since) == (0, None)

    answer["status"] = 502
    assert one_event_until_done(3)["status"] == "failed"
    sub = subscription_row(acme, created["id"])
    assert (sub.enabled, sub.consecutive_failures) == (True, 2)  # would be 4 (disabled) without the reset

    assert one_event_until_done(4)["status"] == "failed"
    sub = subscription_row(acme, created["id"])
    assert sub.enabled is False
    assert sub.consecutive_failures == 4
    assert "disabled automatically" in sub.disabled_reason
    with schema_context(acme.schema):
        assert Event.objects.filter(
            type="bizosaas.subscription.disabled", payload__subscription_id=created["id"]
        ).exists()

    post_event(api, acme, "shop.order.created", {"n": 5})
    assert fan_out_and_deliver(acme) == []
    assert len(received(httpserver, "/flaky")) == 2 + 1 + 2 + 2


def test_a_success_clears_a_failure_recorded_by_another_worker_while_it_was_sending(api, acme, httpserver):
    """A healthy subscription's success is not re-stamped on every delivery, but whether it needs the stamp is
    decided by the row as it is when the success is recorded, not as it was when the delivery was claimed."""
    httpserver.expect_request("/ok").respond_with_data("ok")
    created = subscribe(api, acme, httpserver.url_for("/ok"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"n": 1})
    [first] = fan_out_and_deliver(acme)
    assert delivery_detail(api, acme, first)["status"] == "succeeded"
    healthy = subscription_row(acme, created["id"])
    assert healthy.last_success_at is not None

    post_event(api, acme, "shop.order.created", {"n": 2})
    acme.process_pending()
    with schema_context(acme.schema):
        [second] = Delivery.objects.filter(status=Delivery.Status.PENDING).values_list("pk", flat=True)
        delivery = outbound.delivery_claim(second)  # loads the subscription as healthy
        # meanwhile another worker's delivery to the same endpoint failed
        Subscription.objects.filter(pk=created["id"]).update(consecutive_failures=3, failing_since=timezone.now())
        outbound.delivery_attempt(delivery)
    assert delivery_detail(api, acme, second)["status"] == "succeeded"
    sub = subscription_row(acme, created["id"])
    assert (sub.consecutive_failures, sub.failing_since) == (0, None)
    assert sub.last_success_at > healthy.last_success_at


# --- 7. replay -----------------------------------------------------------------------------------------------


def test_replaying_a_failed_delivery_sends_it_again(api, acme, httpserver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0,)
    answer = {"status": 500}
    httpserver.expect_request("/hook").respond_with_handler(lambda request: Response("r", status=answer["status"]))
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 9})
    [delivery_id] = fan_out_and_deliver(acme)
    assert delivery_detail(api, acme, delivery_id)["status"] == "failed"

    denied = api.post(f"{DELIVERIES}{delivery_id}/replay/", **acme.auth("member"))
    assert denied.status_code == 403
    assert delivery_detail(api, acme, delivery_id)["status"] == "failed"

    answer["status"] = 200
    replayed = api.post(f"{DELIVERIES}{delivery_id}/replay/", **acme.auth("admin"))
    assert replayed.status_code == 202, replayed.content
    assert replayed.json()["status"] == "pending"
    assert replayed.json()["id"] == delivery_id
    acme.run(dispatch.delivery_send, delivery_id, "replay")

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "succeeded"
    assert detail["attempts"] == 2
    log = sorted(detail["attempt_log"], key=lambda row: row["number"])
    assert [(row["trigger"], row["status_code"]) for row in log] == [("scheduled", 500), ("replay", 200)]
    requests = received(httpserver, "/hook")
    assert len(requests) == 2
    assert requests[0][1]["Webhook-Id"] == requests[1][1]["Webhook-Id"]
    assert Webhook(created["secret"]).verify(*requests[1])["data"]["payload"] == {"id": 9}

    # the queued task arriving later finds the work done
    acme.run(dispatch.delivery_send, delivery_id, "replay")
    assert len(received(httpserver, "/hook")) == 2
    assert delivery_detail(api, acme, delivery_id)["attempts"] == 2


def test_a_replay_that_fails_again_is_not_put_back_on_the_schedule(api, acme, httpserver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0, 5)
    httpserver.expect_request("/hook").respond_with_data("still down", status=500)
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"id": 10})
    [delivery_id] = fan_out_and_deliver(acme)
    make_due(acme, delivery_id)
    acme.run(dispatch.delivery_send, delivery_id)
    assert delivery_detail(api, acme, delivery_id)["status"] == "failed"

    assert api.post(f"{DELIVERIES}{delivery_id}/replay/", **acme.auth("admin")).status_code == 202
    acme.run(dispatch.delivery_send, delivery_id, "replay")

    detail = delivery_detail(api, acme, delivery_id)
    assert (detail["status"], detail["attempts"], detail["next_attempt_at"]) == ("failed", 3, None)
    assert max(detail["attempt_log"], key=lambda row: row["number"])["trigger"] == "replay"


def test_replaying_a_subscription_resends_failed_deliveries_since_a_time_only(api, acme, httpserver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0,)
    answer = {"status": 500}
    httpserver.expect_request("/hook").respond_with_handler(lambda request: Response("r", status=answer["status"]))
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    other = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    for number in range(3):
        post_event(api, acme, "shop.order.created", {"n": number})
    fan_out_and_deliver(acme)
    with schema_context(acme.schema):
        mine = list(Delivery.objects.filter(subscription_id=created["id"]).order_by("event_id"))
        others = list(Delivery.objects.filter(subscription_id=other["id"]).values_list("pk", flat=True))
        assert {d.status for d in mine} == {"failed"}
        old = mine[0]
        Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))  # time travel
    since = (timezone.now() - timedelta(days=1)).isoformat()

    answer["status"] = 200
    response = api.post(f"{SUBSCRIPTIONS}{created['id']}/replay/", {"since": since}, **acme.auth("admin"))

    assert response.status_code == 202, response.content
    assert response.json() == {"replayed": 2}
    with schema_context(acme.schema):
        statuses = dict(Delivery.objects.filter(subscription_id=created["id"]).values_list("pk", "status"))
        assert Delivery.objects.filter(pk__in=others, status="failed").count() == len(others)
    assert statuses == {old.pk: "failed", mine[1].pk: "pending", mine[2].pk: "pending"}
    for delivery in mine:
        acme.run(dispatch.delivery_send, delivery.pk, "replay")
    with schema_context(acme.schema):
        statuses = dict(Delivery.objects.filter(subscription_id=created["id"]).values_list("pk", "status"))
    assert statuses == {old.pk: "failed", mine[1].pk: "succeeded", mine[2].pk: "succeeded"}

    bad = api.post(f"{SUBSCRIPTIONS}{created['id']}/replay/", {"since": "yesterday"}, **acme.auth("admin"))
    assert bad.status_code == 400
    assert "since" in bad.json()
    assert api.post(f"{SUBSCRIPTIONS}{created['id']}/replay/", {"since": since}, **acme.auth("member")).status_code == (
        403
    )


# --- 8. disabling and re-enabling ----------------------------------------------------------------------------


def test_a_disabled_subscription_gets_nothing_and_re_enabling_forgives_the_streak(api, acme, httpserver):
    answer = {"status": 410}
    httpserver.expect_request("/hook").respond_with_handler(lambda request: Response("g", status=answer["status"]))
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"n": 1})
    fan_out_and_deliver(acme)
    sub = subscription_row(acme, created["id"])
    assert sub.enabled is False and sub.disabled_reason and sub.consecutive_failures == 1

    post_event(api, acme, "shop.order.created", {"n": 2})
    fan_out_and_deliver(acme)
    with schema_context(acme.schema):
        assert Delivery.objects.filter(subscription_id=created["id"]).count() == 1
    assert len(received(httpserver, "/hook")) == 1

    answer["status"] = 200
    response = api.patch(f"{SUBSCRIPTIONS}{created['id']}/", {"enabled": True}, **acme.auth("admin"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["enabled"] is True
    assert (body["disabled_reason"], body["disabled_at"]) == ("", None)
    assert (body["consecutive_failures"], body["failing_since"]) == (0, None)
    post_event(api, acme, "shop.order.created", {"n": 3})
    fan_out_and_deliver(acme)
    requests = received(httpserver, "/hook")
    assert len(requests) == 2
    assert json.loads(requests[1][0])["data"]["payload"] == {"n": 3}


def test_a_retry_due_after_the_subscription_was_disabled_is_not_sent(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"n": 1})
    [delivery_id] = fan_out_and_deliver(acme)

    response = api.patch(f"{SUBSCRIPTIONS}{created['id']}/", {"enabled": False}, **acme.auth("admin"))
    assert response.status_code == 200
    assert response.json()["disabled_reason"] == "Disabled by a user."
    make_due(acme, delivery_id)
    acme.run(dispatch.delivery_send, delivery_id)

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "failed"
    assert "disabled" in detail["last_error"]
    assert len(received(httpserver, "/hook")) == 1


def test_attempt_numbers_stay_unique_after_a_skipped_attempt(api, acme, httpserver):
    answer = {"status": 500}
    httpserver.expect_request("/hook").respond_with_handler(lambda request: Response("r", status=answer["status"]))
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"n": 1})
    [delivery_id] = fan_out_and_deliver(acme)
    api.patch(f"{SUBSCRIPTIONS}{created['id']}/", {"enabled": False}, **acme.auth("admin"))
    make_due(acme, delivery_id)
    acme.run(dispatch.delivery_send, delivery_id)  # skipped: the subscription is disabled
    api.patch(f"{SUBSCRIPTIONS}{created['id']}/", {"enabled": True}, **acme.auth("admin"))
    answer["status"] = 200
    assert api.post(f"{DELIVERIES}{delivery_id}/replay/", **acme.auth("admin")).status_code == 202
    acme.run(dispatch.delivery_send, delivery_id, "replay")

    detail = delivery_detail(api, acme, delivery_id)
    assert detail["status"] == "succeeded"
    numbers = sorted(row["number"] for row in detail["attempt_log"])
    assert numbers == [1, 2, 3]


# --- 9. listing and isolation --------------------------------------------------------------------------------


def test_deliveries_are_filtered_by_status_and_subscription_and_paginated(
    api, acme, httpserver, settings, django_assert_max_num_queries
):
    settings.WEBHOOK_RETRY_SCHEDULE = (0,)
    httpserver.expect_request("/good").respond_with_data("ok")
    httpserver.expect_request("/bad").respond_with_data("no", status=500)
    good = subscribe(api, acme, httpserver.url_for("/good"), ["shop.*"])
    bad = subscribe(api, acme, httpserver.url_for("/bad"), ["shop.order.*"])
    for number in range(3):
        post_event(api, acme, "shop.order.created", {"n": number})
    post_event(api, acme, "shop.customer.created", {"n": 9})
    fan_out_and_deliver(acme)
    auth = acme.auth("viewer")

    def ids(query: str) -> list[int]:
        response = api.get(DELIVERIES + query, **auth)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    with schema_context(acme.schema):
        good_ids = set(Delivery.objects.filter(subscription_id=good["id"]).values_list("pk", flat=True))
        bad_ids = set(Delivery.objects.filter(subscription_id=bad["id"]).values_list("pk", flat=True))
    assert (len(good_ids), len(bad_ids)) == (4, 3)
    assert set(ids("?status=succeeded")) == good_ids
    assert set(ids("?status=failed")) == bad_ids
    assert set(ids(f"?subscription={bad['id']}")) == bad_ids
    assert ids(f"?subscription={bad['id']}&status=succeeded") == []
    assert api.get(DELIVERIES + "?status=bogus", **auth).status_code == 400
    assert api.get(DELIVERIES + "?subscription=abc", **auth).status_code == 400

    with django_assert_max_num_queries(10):
        everything = api.get(DELIVERIES, **auth).json()
    assert everything["count"] == 7
    row = everything["results"][0]
    assert {"id", "msg_id", "event", "event_type", "subscription", "url", "status", "attempts"} <= set(row)
    assert "attempt_log" not in row
    pages = [api.get(f"{DELIVERIES}?limit=3&offset={offset}", **auth).json() for offset in (0, 3, 6)]
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert all(page["count"] == 7 for page in pages)
    assert pages[0]["next"] and pages[2]["next"] is None
    paged = [row["id"] for page in pages for row in page["results"]]
    assert paged == [row["id"] for row in everything["results"]]
    assert len(set(paged)) == 7


def test_another_tenant_cannot_see_or_replay_deliveries_or_subscriptions(api, acme, globex, httpserver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (0,)
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    created = subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    post_event(api, acme, "shop.order.created", {"secret_to_acme": True})
    [delivery_id] = fan_out_and_deliver(acme)
    sub_path, delivery_path = f"{SUBSCRIPTIONS}{created['id']}/", f"{DELIVERIES}{delivery_id}/"
    intruder = globex.auth("owner")

    assert api.get(sub_path, **intruder).status_code == 404
    assert api.patch(sub_path, {"enabled": False}, **intruder).status_code == 404
    assert api.post(f"{sub_path}rotate-secret/", **intruder).status_code == 404
    assert api.post(f"{sub_path}replay/", {"since": "2000-01-01T00:00:00Z"}, **intruder).status_code == 404
    assert api.delete(sub_path, **intruder).status_code == 404
    assert api.get(delivery_path, **intruder).status_code == 404
    assert api.post(f"{delivery_path}replay/", **intruder).status_code == 404
    assert api.get(SUBSCRIPTIONS, **intruder).json()["count"] == 0
    assert api.get(DELIVERIES, **intruder).json()["count"] == 0
    assert api.get(f"{DELIVERIES}?subscription={created['id']}", **intruder).json()["count"] == 0

    row = subscription_row(acme, created["id"])
    assert row.enabled is True and "previous" not in row.secrets
    detail = delivery_detail(api, acme, delivery_id)
    assert (detail["status"], detail["attempts"]) == ("failed", 1)
    assert len(received(httpserver, "/hook")) == 1


# --- 10. metrics ---------------------------------------------------------------------------------------------


def test_delivery_outcomes_are_counted_in_metrics(api, acme, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("x", status=500)
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscribe(api, acme, httpserver.url_for("/hook"), ["shop.*"])
    name = "bizosaas_webhook_deliveries_total"
    before = {o: metric(api, name, f'outcome="{o}"') for o in ("succeeded", "retrying")}
    post_event(api, acme, "shop.order.created", {"n": 1})
    [delivery_id] = fan_out_and_deliver(acme)
    make_due(acme, delivery_id)
    acme.run(dispatch.delivery_send, delivery_id)

    after = {o: metric(api, name, f'outcome="{o}"') for o in ("succeeded", "retrying")}
    assert after["retrying"] == before["retrying"] + 1
    assert after["succeeded"] == before["succeeded"] + 1
    text = api.get("/metrics").content.decode()
    assert "bizosaas_webhook_delivery_seconds_count" in text
    with schema_context(acme.schema):
        assert DeliveryAttempt.objects.filter(delivery_id=delivery_id).count() == 2
