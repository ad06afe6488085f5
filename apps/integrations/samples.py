""" "Send a test event": on an inbound endpoint, a request signed the way the sender would sign it, put through the
gateway's own webhook view (routing, rate limit, verification, storage, fan-out: everything a platform's request
meets); on a subscription, a synthetic event delivered to that subscription only, through the delivery worker."""

from __future__ import annotations

import json
import secrets as pysecrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.accounts import quotas
from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.integrations.inbound_views import receive
from apps.integrations.models import Delivery, Event, InboundEndpoint, Subscription
from apps.integrations.queueing import enqueue_delivery
from bizosaas.tenancy import current_schema

DEFAULT_TYPE = "test.ping"
SUBSCRIPTION_TEST_TYPE = "bizosaas.subscription.test"


def sample_payload() -> dict:
    return {"message": "A test event sent from the portal.", "sent_at": timezone.now().isoformat()}


def endpoint_send_test(
    *, tenant: Tenant, actor: Actor, endpoint: InboundEndpoint, event_type: str | None, payload: dict | None
) -> dict:
    """Signs a Standard Webhooks request with the endpoint's own secret and hands it to `/hooks/<token>/` in this
    process; returns what the gateway answered. The event it stores is an ordinary one (rules and subscriptions
    see it)."""
    if endpoint.scheme != InboundEndpoint.Scheme.STANDARD:
        name = endpoint.connection.name if endpoint.connection else "the platform"
        raise ValidationError(
            {
                "scheme": [
                    f"This endpoint is verified with {name}'s own signature, which only the platform can make: "
                    "send a test from the platform's webhook settings."
                ]
            }
        )
    if not endpoint.enabled:
        raise ValidationError({"enabled": ["The endpoint is disabled: enable it to send a test event."]})
    secret = endpoint.secrets.get("signing_secret")
    if not secret:
        raise ValidationError({"scheme": ["The endpoint has no signing secret: rotate it to get one."]})
    answer = send_signed(endpoint, event_type=event_type or DEFAULT_TYPE, payload=payload or sample_payload())
    audit_record(
        tenant=tenant,
        actor=actor,
        action="inbound_endpoint.test_sent",
        obj=endpoint,
        changes={"type": event_type or DEFAULT_TYPE, "status": answer["status_code"]},
    )
    return answer


def send_signed(endpoint: InboundEndpoint, *, event_type: str, payload: dict, msg_id: str = "") -> dict:
    """One Standard Webhooks request signed with the endpoint's secret, through the gateway's `/hooks/<token>/`
    view in this process: {status_code, response, event, type}. `msg_id` (the webhook-id) dedupes a repeat."""
    msg_id = msg_id or f"msg_test_{pysecrets.token_hex(12)}"
    now = timezone.now()
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": payload}, separators=(",", ":"))
    signature = Webhook(endpoint.secrets["signing_secret"]).sign(msg_id, now, body)
    gateway = urlsplit(settings.GATEWAY_URL)
    request = RequestFactory().post(
        f"/hooks/{endpoint.token}/",
        data=body.encode(),
        content_type="application/json",
        headers={
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "user-agent": "BizOSaaS test sender",
        },
        HTTP_HOST=gateway.netloc or "localhost",
        secure=gateway.scheme == "https",
    )
    response = receive(request, token=endpoint.token)
    answer = json.loads(response.content or b"{}") if response["Content-Type"].startswith("application/json") else {}
    return {
        "status_code": response.status_code,
        "response": answer,
        "event": answer.get("event"),
        "type": answer.get("type", ""),
    }


def subscription_send_test(*, tenant: Tenant, actor: Actor, subscription: Subscription) -> Delivery:
    """A synthetic `bizosaas.subscription.test` event, delivered to this subscription only (no rule or other
    subscription sees it), signed and retried like any delivery. Counts against the events per day."""

    if not subscription.enabled:
        raise ValidationError({"enabled": ["The subscription is disabled: enable it to send a test event."]})
    quotas.consume(current_schema(), "events_per_day")
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            source=Event.Source.SYSTEM,
            type=SUBSCRIPTION_TEST_TYPE,
            raw_type=SUBSCRIPTION_TEST_TYPE,
            payload={"subscription_id": subscription.pk, **sample_payload()},
            status=Event.Status.PROCESSED,  # nothing to fan out: the one delivery is made here
            processed_at=now,
        )
        delivery = Delivery.objects.create(event=event, subscription=subscription, next_attempt_at=now)
        audit_record(tenant=tenant, actor=actor, action="subscription.test_sent", obj=subscription)
        transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery
