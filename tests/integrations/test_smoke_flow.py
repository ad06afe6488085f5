"""The whole path once: a signed Shopify webhook is stored, fanned out to a subscription and a rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from django_tenants.utils import schema_context

from apps.integrations import dispatch
from apps.integrations.models import Delivery, Event, RuleRun

pytestmark = pytest.mark.django_db


def shopify_sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signed_shopify_order_is_stored_delivered_and_matched(api, acme, post_hook, httpserver):
    shop = acme.connection("shopify", config={"shop": "acme"}, credentials={"webhook_secret": "shpss_1"})
    endpoint = acme.endpoint(api, connection=shop)
    httpserver.expect_request("/receiver", method="POST").respond_with_data("ok")
    sub, _rule = acme.big_orders_to(api, httpserver.url_for("/receiver"))
    assert sub["secret"].startswith("whsec_")

    body = json.dumps({"id": 1, "total_price": "99.00"}).encode()
    headers = {
        "X-Shopify-Hmac-Sha256": shopify_sign("shpss_1", body),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "wh-1",
    }
    response = post_hook(endpoint, body, headers)
    assert response.status_code == 200, response.content
    assert response.json()["type"] == "shopify.order.create"
    again = post_hook(endpoint, body, headers)
    assert again.json()["status"] == "duplicate"

    acme.process_pending()
    with schema_context(acme.schema):
        event = Event.objects.get()
        assert event.status == Event.Status.PROCESSED
        delivery = Delivery.objects.get()
        run = RuleRun.objects.get()
        assert run.matched
    acme.run(dispatch.delivery_send, delivery.pk)
    with schema_context(acme.schema):
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SUCCEEDED
    assert len(httpserver.log) == 1
