"""The built-in test receiver and "Send a test event": a workspace's deliveries reach its receiver over HTTP and are
shown with a verified signature; anything else is kept with the reason it does not verify, answered 401; another
workspace can neither read the requests nor pass verification; the receiver keeps only the newest few, cuts long
bodies and refuses floods; a test event on an inbound endpoint goes through the real webhook view, and one on a
subscription reaches that subscription only."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from apps.accounts.audit.models import AuditEvent
from apps.integrations import dispatch, receiver
from apps.integrations.models import Delivery, Event, ReceivedRequest, RuleRun

pytestmark = pytest.mark.django_db

RECEIVER = "/api/v1/webhooks/test-receiver/"
SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions/"


def receiver_of(api, org, role: str = "viewer") -> dict:
    response = api.get(RECEIVER, **org.auth(role))
    assert response.status_code == 200, response.content
    return response.json()


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def subscribe(api, org, url: str, event_types=("*",)) -> dict:
    response = api.post(SUBSCRIPTIONS, {"url": url, "event_types": list(event_types)}, **org.auth("admin"))
    assert response.status_code == 201, response.content
    return response.json()


def signed(secret: str, body: str, *, msg_id: str = "msg_1", at: datetime | None = None) -> dict:
    at = at or timezone.now()
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, at, body),
    }


def post_to(client, path: str, body: str, headers: dict | None = None):
    return client.post(path, body, content_type="application/json", HTTP_HOST="localhost", **(headers or {}))


@pytest.mark.django_db(transaction=True)
def test_a_subscription_to_the_receiver_is_delivered_over_http_and_shown_verified(api, acme, live_server, settings):
    settings.GATEWAY_URL = live_server.url
    url = receiver_of(api, acme)["url"]
    assert url.startswith(f"{live_server.url}/receiver/acme/")
    sub = subscribe(api, acme, url)
    assert sub["test_receiver"] is True

    sent = api.post(f"{SUBSCRIPTIONS}{sub['id']}/send-test/", **acme.auth("admin"))
    assert sent.status_code == 202, sent.content
    assert sent.json()["event_type"] == "bizosaas.subscription.test"
    acme.run(dispatch.delivery_send, sent.json()["id"])  # what the delivery worker does, over real HTTP

    with schema_context(acme.schema):
        delivery = Delivery.objects.select_related("event").get(pk=sent.json()["id"])
    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
    shown = receiver_of(api, acme)
    assert shown["subscriptions"] == [sub["id"]]
    [request] = shown["requests"]
    assert request["verdict"] == "verified" and request["verdict_label"] == "Signature verified"
    assert request["subscription"] == sub["id"] and request["status_code"] == 200
    assert request["webhook_id"] == delivery.msg_id
    assert request["event_type"] == "bizosaas.subscription.test"
    assert json.loads(request["body"])["data"]["payload"]["subscription_id"] == sub["id"]
    assert request["headers"]["webhook-signature"].startswith("v1,")


def test_requests_that_do_not_verify_are_kept_with_the_reason_and_answered_401(api, acme, client):
    url = receiver_of(api, acme)["url"]
    subscribe(api, acme, url)
    path, body = path_of(url), '{"type": "x.y"}'

    wrong = post_to(client, path, body, signed("whsec_" + "A" * 32, body))
    unsigned = post_to(client, path, body)
    stale = post_to(client, path, body, signed("whsec_" + "A" * 32, body, at=timezone.now() - timedelta(hours=1)))

    assert [r.status_code for r in (wrong, unsigned, stale)] == [401, 401, 401]
    assert wrong.json()["verdict"] == "invalid_signature"
    requests = receiver_of(api, acme)["requests"]
    assert [(r["verdict"], r["status_code"]) for r in requests] == [
        ("stale_timestamp", 401),
        ("unsigned", 401),
        ("invalid_signature", 401),
    ]
    assert requests[1]["detail"] == "Missing webhook-id, webhook-timestamp, webhook-signature."
    assert requests[2]["event_type"] == "x.y" and requests[2]["subscription"] is None


def test_another_workspace_can_neither_pass_verification_nor_read_the_requests(api, acme, globex, client):
    acme_url = receiver_of(api, acme)["url"]
    intruder = subscribe(api, globex, acme_url)  # globex learnt acme's URL and points its own subscription at it
    with schema_context(globex.schema):
        from apps.integrations.models import Subscription

        secret = Subscription.objects.get(pk=intruder["id"]).secrets["current"]
    body = '{"type": "globex.says.hi"}'

    answer = post_to(client, path_of(acme_url), body, signed(secret, body))

    assert answer.status_code == 401
    assert [r["verdict"] for r in receiver_of(api, acme)["requests"]] == ["invalid_signature"]
    assert receiver_of(api, globex)["requests"] == []  # each workspace reads only its own receiver
    globex_url = receiver_of(api, globex)["url"]
    token = acme_url.rstrip("/").rsplit("/", 1)[1]
    for forged in (f"/receiver/globex/{token}/", f"/receiver/acme/{'0' * 40}/", "/receiver/nobody/abc/"):
        assert post_to(client, forged, body).status_code == 404
    assert globex_url != acme_url
    with schema_context(globex.schema):
        assert ReceivedRequest.objects.count() == 0


def test_the_receiver_keeps_only_the_newest_requests_and_the_start_of_long_bodies(api, acme, client, settings):
    settings.TEST_RECEIVER_KEEP = 3
    settings.TEST_RECEIVER_MAX_BODY_BYTES = 100
    path = path_of(receiver_of(api, acme)["url"])
    for number in range(5):
        post_to(client, path, json.dumps({"type": "n.n", "n": number}))
    post_to(client, path, json.dumps({"type": "big.one", "pad": "x" * 500}))

    requests = receiver_of(api, acme)["requests"]

    assert len(requests) == 3
    assert requests[0]["truncated"] is True and len(requests[0]["body"]) == 100 and requests[0]["body_bytes"] > 500
    assert requests[0]["event_type"] == "big.one"  # read from the whole body
    assert [json.loads(r["body"])["n"] for r in requests[1:]] == [4, 3]
    with schema_context(acme.schema):
        assert ReceivedRequest.objects.count() == 3


def test_over_its_rate_the_receiver_answers_429_before_reading_and_keeps_nothing(api, acme, globex, client, settings):
    settings.TEST_RECEIVER_REQUESTS_PER_MINUTE = 2
    path = path_of(receiver_of(api, acme)["url"])
    if time.time() % 60 > 58:  # the three requests must fall in one minute's window
        time.sleep(2.5)

    answers = [post_to(client, path, '{"type": "a.b"}') for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[2].json()["code"] == "test_receiver_busy"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert len(receiver_of(api, acme)["requests"]) == 2
    # another workspace's receiver has a window of its own
    assert post_to(client, path_of(receiver_of(api, globex)["url"]), "{}").status_code == 401


def test_the_receiver_takes_only_post_and_bounds_the_body(api, acme, client, settings):
    path = path_of(receiver_of(api, acme)["url"])
    assert client.get(path, HTTP_HOST="localhost").status_code == 405
    settings.WEBHOOK_MAX_BODY_BYTES = 50
    assert post_to(client, path, json.dumps({"pad": "x" * 100})).status_code == 413
    assert receiver_of(api, acme)["requests"] == []


def test_admins_clear_the_receiver_and_viewers_may_not(api, acme, client):
    post_to(client, path_of(receiver_of(api, acme)["url"]), "{}")

    assert api.delete(RECEIVER, **acme.auth("viewer")).status_code == 403
    assert len(receiver_of(api, acme)["requests"]) == 1
    assert api.delete(RECEIVER, **acme.auth("admin")).status_code == 204
    assert receiver_of(api, acme)["requests"] == []
    with schema_context(acme.schema):
        assert AuditEvent.objects.filter(action="test_receiver.cleared").count() == 1


# --- send a test event -----------------------------------------------------------------------------------------


def test_a_test_event_on_an_inbound_endpoint_is_signed_verified_stored_and_fanned_out(api, acme, httpserver):
    endpoint = acme.endpoint(api, scheme="standard_webhooks", name="Shop")
    sub = subscribe(api, acme, httpserver.url_for("/orders"), ["custom.order.*"])
    rule = api.post(
        "/api/v1/rules/",
        {
            "name": "Big",
            "trigger_event": "custom.order.created",
            "conditions": [{"field": "payload.total", "op": "gte", "value": 100}],
            "actions": [{"type": "send_to_subscription", "subscription": sub["id"]}],
        },
        **acme.auth(),
    ).json()

    sent = api.post(
        f"/api/v1/webhooks/endpoints/{endpoint['id']}/send-test/",
        {"type": "order.created", "payload": {"total": 150}},
        **acme.auth("admin"),
    )

    assert sent.status_code == 200, sent.content
    body = sent.json()
    assert body["status_code"] == 200 and body["type"] == "custom.order.created"
    assert body["response"]["status"] == "accepted"
    with schema_context(acme.schema):
        event = Event.objects.get(uid=body["event"])
        assert (event.source, event.endpoint_id, event.payload) == ("webhook", endpoint["id"], {"total": 150})
        assert event.external_id.startswith("msg_test_")
        assert "webhook-id" in event.headers and "webhook-signature" not in event.headers  # verified, then dropped
    acme.process_pending()
    with schema_context(acme.schema):
        run = RuleRun.objects.get(rule_id=rule["id"], event=event)
        assert run.matched is True
        assert Delivery.objects.filter(event=event, subscription_id=sub["id"]).count() == 1
    listed = api.get("/api/v1/webhooks/endpoints/", **acme.auth()).json()["results"][0]
    assert listed["received_count"] == 1 and listed["rejected_count"] == 0


def test_a_test_event_needs_a_standard_webhooks_endpoint_that_is_enabled_and_valid_input(api, acme):
    shop = acme.connection("shopify", credentials={"webhook_secret": "s"}, name="Main shop")
    provider = acme.endpoint(api, connection=shop)
    standard = acme.endpoint(api, scheme="standard_webhooks", name="Std")
    url = "/api/v1/webhooks/endpoints/{}/send-test/"

    refused = api.post(url.format(provider["id"]), **acme.auth("admin"))
    bad_payload = api.post(url.format(standard["id"]), {"payload": [1, 2]}, **acme.auth("admin"))
    bad_type = api.post(url.format(standard["id"]), {"type": "Not A Type"}, **acme.auth("admin"))
    by_viewer = api.post(url.format(standard["id"]), **acme.auth("viewer"))
    api.patch(f"/api/v1/webhooks/endpoints/{standard['id']}/", {"enabled": False}, **acme.auth())
    disabled = api.post(url.format(standard["id"]), **acme.auth("admin"))

    assert refused.status_code == 400 and "Main shop's own signature" in refused.json()["scheme"][0]
    assert bad_payload.status_code == 400 and list(bad_payload.json()) == ["payload"]
    assert bad_type.status_code == 400 and list(bad_type.json()) == ["type"]
    assert by_viewer.status_code == 403
    assert disabled.status_code == 400 and list(disabled.json()) == ["enabled"]
    with schema_context(acme.schema):
        assert Event.objects.count() == 0


def test_a_test_event_on_a_subscription_reaches_that_subscription_only(api, acme, globex, httpserver):
    target = subscribe(api, acme, httpserver.url_for("/a"), ["*"])
    other = subscribe(api, acme, httpserver.url_for("/b"), ["*"])

    sent = api.post(f"{SUBSCRIPTIONS}{target['id']}/send-test/", **acme.auth("admin"))
    acme.process_pending()

    assert sent.status_code == 202
    with schema_context(acme.schema):
        assert list(Delivery.objects.values_list("subscription_id", flat=True)) == [target["id"]]
        assert Event.objects.get().status == "processed"
        assert RuleRun.objects.count() == 0
    assert other["id"] != target["id"]
    assert api.post(f"{SUBSCRIPTIONS}{target['id']}/send-test/", **globex.auth("admin")).status_code == 404
    assert api.post(f"{SUBSCRIPTIONS}{target['id']}/send-test/", **acme.auth("member")).status_code == 403


def test_the_receiver_token_is_bound_to_the_schema(acme, globex):
    assert receiver.receiver_token(acme.schema) != receiver.receiver_token(globex.schema)
    assert len(receiver.receiver_token(acme.schema)) == 40
