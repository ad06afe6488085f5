"""Operator commands: catch up after a broker outage, and replay failed deliveries."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.integrations.models import Delivery, Event

pytestmark = pytest.mark.django_db


def test_sweep_integrations_queues_what_was_left_pending(api, acme, settings):
    settings.INTEGRATIONS_EVENT_GRACE_SECONDS = 0
    api.post("/api/v1/events/", {"type": "erp.order.created", "payload": {}}, **acme.auth())
    with schema_context(acme.schema):  # as if the broker had been down when it was posted
        Event.objects.update(enqueued_at=None)

    out = StringIO()
    call_command("sweep_integrations", stdout=out)

    assert "queued 1 event(s)" in out.getvalue()
    with schema_context(acme.schema):
        assert Event.objects.get().enqueued_at is not None


def test_replay_deliveries_requeues_failed_ones_since_a_time(api, acme, httpserver):
    httpserver.expect_request("/hook").respond_with_data("down", status=503)
    subscription = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": httpserver.url_for("/hook"), "event_types": ["erp.*"]},
        **acme.auth(),
    ).json()
    api.post("/api/v1/events/", {"type": "erp.order.created", "payload": {}}, **acme.auth())
    acme.process_pending()
    with schema_context(acme.schema):
        Delivery.objects.update(status=Delivery.Status.FAILED, next_attempt_at=None)

    out = StringIO()
    since = (timezone.now() - timezone.timedelta(hours=1)).isoformat()
    call_command("replay_deliveries", tenant="acme", since=since, subscription=subscription["id"], stdout=out)

    assert "queued 1 failed delivery" in out.getvalue()
    with schema_context(acme.schema):
        assert Delivery.objects.get().status == Delivery.Status.PENDING
    with pytest.raises(CommandError, match="no tenant"):
        call_command("replay_deliveries", tenant="nope", since=since)
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("replay_deliveries", tenant="acme", since="yesterday")
