"""The integrations page end to end: an admin creates a Standard Webhooks endpoint (secret shown once), an outbound
subscription to a loopback receiver and a rule in the builder (an API field error shown next to its field, then a
test against a sample event); a webhook signed with the captured secret is processed by the Celery worker and
delivered to the receiver, which the event list, the delivery log and the rule's runs show; an API key is created
(shown once) and revoked."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.portal.conftest import login, register, unique_slug

pytestmark = pytest.mark.django_db(transaction=True)


def auth(person: dict) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {person['access']}"}


def field_error(page, label: str):
    """The API's message shown in the field that holds the control labelled `label`."""
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".field-error")


def signed_post(url: str, secret: str, payload: dict) -> httpx.Response:
    body = json.dumps(payload)
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": signature,
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_an_admin_wires_a_webhook_to_a_subscription_and_a_rule_and_sees_it_delivered(
    page, client, live_server, httpserver, celery_worker_thread
):
    httpserver.expect_request("/receiver", method="POST").respond_with_data("thanks", status=200)
    admin = register(client, email=f"admin@{unique_slug('mail')}.example")
    login(page, email=admin["email"], password=admin["password"])

    # --- an inbound endpoint: the signing secret is shown once ---------------------------------------------
    page.goto("/dashboard/integrations#inbound")
    page.get_by_role("heading", name="Inbound endpoints", exact=True).wait_for()  # not "No inbound endpoints"
    page.get_by_test_id("empty").wait_for()
    page.get_by_role("button", name="New inbound endpoint").click()
    dialog = page.get_by_role("dialog", name="New inbound endpoint")
    dialog.get_by_label("Name").fill("Shop backend")
    assert dialog.get_by_label("Verification").input_value() == "standard_webhooks"
    page.steps.shot("new inbound endpoint")
    dialog.get_by_role("button", name="Create endpoint").click()
    secret = page.get_by_test_id("secret-value").inner_text()
    assert secret.startswith("whsec_")
    url = page.get_by_test_id("endpoint-url").inner_text()
    token = re.search(r"/hooks/([^/]+)/$", url).group(1)
    page.steps.shot("endpoint created with its secret shown once")
    page.get_by_role("button", name="Done").click()
    page.reload()
    page.get_by_test_id("endpoint-url").wait_for()
    assert page.get_by_test_id("secret-value").count() == 0 and secret not in page.content()

    # --- an outbound subscription to the loopback receiver --------------------------------------------------
    page.get_by_role("tab", name="Outbound webhooks").click()
    page.get_by_role("button", name="New subscription").click()
    dialog = page.get_by_role("dialog", name="New outbound subscription")
    dialog.get_by_label("Endpoint URL").fill(httpserver.url_for("/receiver"))
    dialog.get_by_label("Event types").fill("custom.order.*")
    dialog.get_by_role("button", name="Create subscription").click()
    subscription_secret = page.get_by_test_id("secret-value").inner_text()
    assert subscription_secret.startswith("whsec_")
    page.steps.shot("subscription created with its secret shown once")
    page.get_by_role("button", name="Done").click()
    page.get_by_test_id("delivery-log").get_by_test_id("empty").wait_for()

    # --- a rule in the builder: the API's field error next to the field, then saved --------------------------
    page.get_by_role("tab", name="Automation rules").click()
    page.get_by_role("button", name="New rule").click()
    page.get_by_label("Name", exact=True).fill("Big orders to the CRM")
    page.get_by_label("Event type", exact=True).fill("custom.order.*")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Condition 1: field").fill("total")  # not under payload.: the API says so
    page.get_by_label("Condition 1: operator").select_option("gt")
    page.get_by_label("Condition 1: value").fill("50")
    page.get_by_label("Action 1: type").select_option("send_to_subscription")
    page.get_by_label("Action 1: Subscription").select_option(label=httpserver.url_for("/receiver"))
    page.get_by_role("button", name="Create rule").click()
    error = field_error(page, "Condition 1: field")
    error.wait_for()
    assert "Must start with one of" in error.inner_text()
    page.steps.shot("rule builder shows the api field error next to the field")
    page.get_by_label("Condition 1: field").fill("payload.total")
    page.get_by_role("button", name="Create rule").click()
    page.get_by_text("Rule saved.").wait_for()
    assert field_error(page, "Condition 1: field").count() == 0

    # test against a sample event: per-condition results and the action that would run
    page.get_by_label("Sample payload (JSON)").fill('{"total": 120}')
    page.get_by_role("button", name="Run test").click()
    result = page.get_by_test_id("rule-test-result")
    result.get_by_text("matched", exact=True).wait_for()
    assert "1 action would run." in result.inner_text()
    assert "Send the event to one outbound webhook subscription" in result.inner_text()
    page.steps.shot("rule tested against a sample event")
    page.get_by_label("Sample payload (JSON)").fill('{"total": 10}')
    page.get_by_role("button", name="Run test").click()
    result.get_by_text("no match", exact=True).wait_for()

    # --- a webhook signed with the secret from the page reaches the gateway ------------------------------------
    response = signed_post(f"{live_server.url}/hooks/{token}/", secret, {"type": "order.paid", "data": {"total": 120}})
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "custom.order.paid"

    # the event appears as processed (the list refreshes by itself)
    page.get_by_role("tab", name="Events").click()
    row = page.get_by_test_id("events-table").locator("tbody tr").filter(has_text="custom.order.paid")
    row.get_by_text("processed").wait_for(timeout=30_000)
    row.get_by_role("button", name="View event custom.order.paid").click()
    detail = page.get_by_test_id("event-detail")
    detail.wait_for()
    assert '"total": 120' in detail.inner_text()
    page.steps.shot("event processed with its payload")
    page.get_by_role("dialog", name="Event").get_by_role("button", name="Close").click()

    # the delivery appears as delivered in the subscription's log, with the receiver's answer
    page.get_by_role("tab", name="Outbound webhooks").click()
    page.get_by_role("button", name="Deliveries").click()
    delivery = page.get_by_test_id("delivery-row").filter(has_text="custom.order.paid")
    delivery.get_by_text("delivered").wait_for(timeout=30_000)
    delivery.get_by_role("button", name="Attempts").click()
    attempts = page.get_by_test_id("attempts-table")
    attempts.get_by_text("thanks").wait_for()
    assert "200" in attempts.inner_text()
    page.steps.shot("delivery delivered with its attempt")
    assert len(httpserver.log) == 1
    received, _ = httpserver.log[0]
    assert json.loads(received.data)["type"] == "custom.order.paid"

    # replaying it sends it again
    delivery.get_by_role("button", name="Replay").click()
    page.get_by_text(re.compile(r"Delivery msg_\S+ queued again\.")).wait_for()
    deadline = time.monotonic() + 20
    while len(httpserver.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(httpserver.log) == 2

    # the rule ran on the event
    page.get_by_role("tab", name="Automation rules").click()
    page.get_by_role("button", name="Edit Big orders to the CRM").click()
    run = page.get_by_test_id("rule-runs-table").locator("tbody tr").first
    run.get_by_text("succeeded").wait_for(timeout=20_000)
    run.get_by_role("button", name="Details").click()
    page.get_by_test_id("rule-run-detail").get_by_text("Send the event to one outbound webhook subscription").wait_for()
    page.steps.shot("rule run with conditions and actions")

    # --- an API key: shown once, then revoked ------------------------------------------------------------------
    page.get_by_role("tab", name="API keys").click()
    page.get_by_role("button", name="New API key").click()
    dialog = page.get_by_role("dialog", name="New API key")
    dialog.get_by_label("Name").fill("Order sync")
    dialog.get_by_role("button", name="Create key").click()
    scopes_error = dialog.locator(".integ-scopes .field-error")
    scopes_error.wait_for()
    dialog.get_by_role("checkbox", name=re.compile(r"^events:write")).check()
    dialog.get_by_role("checkbox", name=re.compile(r"^webhooks:read")).check()
    page.steps.shot("new api key with scopes")
    dialog.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("secret-value").inner_text()
    assert key.startswith("bzs_")
    page.steps.shot("api key shown once")
    events = client.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert events.status_code == 403  # events:read was not granted
    page.get_by_role("button", name="Done").click()
    row = page.get_by_test_id("api-keys-table").locator("tbody tr").filter(has_text="Order sync")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog", name="Revoke Order sync?").get_by_role("button", name="Revoke").click()
    row.get_by_text("revoked").wait_for()
    page.steps.shot("api key revoked")
    assert client.post(
        "/api/v1/events/",
        {"type": "custom.order.paid", "payload": {}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).status_code in (401, 403)

    # --- a phone-width look at the overview -----------------------------------------------------------------------
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Overview").click()
    overview = page.get_by_test_id("integrations-overview")
    overview.wait_for()
    assert "Shop backend" in overview.inner_text() and "Big orders to the CRM" in overview.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.steps.shot("overview at phone width")


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_read_only_tables_and_only_members_test_rules(page, client, mailoutbox, role):
    from tests.portal.test_viewer import enabled_writes

    owner = register(client, email=f"owner@{unique_slug('mail')}.example")
    endpoint = client.post(
        "/api/v1/webhooks/endpoints/",
        {"name": "Shop backend", "scheme": "standard_webhooks"},
        content_type="application/json",
        **auth(owner),
    )
    assert endpoint.status_code == 201, endpoint.content
    subscription = client.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://127.0.0.1:9/receiver", "event_types": ["custom.order.*"]},
        content_type="application/json",
        **auth(owner),
    )
    assert subscription.status_code == 201, subscription.content
    rule = client.post(
        "/api/v1/rules/",
        {
            "name": "Big orders",
            "trigger_event": "custom.order.*",
            "conditions": [{"field": "payload.total", "op": "gt", "value": 50}],
            "actions": [{"type": "send_to_subscription", "subscription": subscription.json()["id"]}],
        },
        content_type="application/json",
        **auth(owner),
    )
    assert rule.status_code == 201, rule.content
    email = f"{role}@{unique_slug('mail')}.example"
    invited = client.post(
        "/api/v1/invitations/", {"email": email, "role": role}, content_type="application/json", **auth(owner)
    )
    assert invited.status_code == 201, invited.content
    token = re.search(r"/accept-invite\?token=(\S+)", mailoutbox[-1].body).group(1)
    accepted = client.post(
        "/api/v1/auth/invitations/accept/",
        {"token": token, "password": "a long enough password", "first_name": role.title()},
        content_type="application/json",
    )
    assert accepted.status_code in (200, 201), accepted.content
    login(page, email=email, password="a long enough password", tenant=owner["slug"])

    page.goto("/dashboard/integrations#inbound")
    page.get_by_test_id("endpoint-url-hidden").wait_for()  # the routing token is for those who configure webhooks
    assert page.get_by_test_id("endpoint-url").count() == 0
    tabs = page.get_by_role("tablist", name="Integrations").get_by_role("tab")
    assert "API keys" not in tabs.all_inner_texts()
    assert enabled_writes(page) == []
    page.steps.shot(f"{role} inbound endpoints read only")

    page.get_by_role("tab", name="Outbound webhooks").click()
    page.get_by_role("button", name="Deliveries").click()
    page.get_by_test_id("delivery-log").get_by_test_id("empty").wait_for()
    assert enabled_writes(page) == []

    page.get_by_role("tab", name="Automation rules").click()
    page.get_by_role("button", name="View Big orders").click()
    page.get_by_label("Condition 1: value").wait_for()
    assert page.get_by_label("Condition 1: value").is_disabled()
    assert page.get_by_label("Name", exact=True).is_disabled()
    page.get_by_test_id("rule-runs-table").or_(page.get_by_text("No runs yet")).first.wait_for()
    if role == "member":
        assert enabled_writes(page) == ["Run test"]
        page.get_by_label("Sample payload (JSON)").fill('{"total": 80}')
        page.get_by_role("button", name="Run test").click()
        page.get_by_test_id("rule-test-result").get_by_text("matched", exact=True).wait_for()
    else:
        assert enabled_writes(page) == []
        assert page.get_by_role("button", name="Run test").count() == 0
    page.steps.shot(f"{role} rule view")
