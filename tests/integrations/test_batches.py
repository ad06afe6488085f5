"""A HubSpot delivery carries up to 100 events in one signed array: each becomes its own event, deduplicated on
its own eventId, so a retried batch with one new event stores only that one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django_tenants.utils import schema_context

from apps.integrations.models import Event
from tests.integrations.conftest import hook_path

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "hubspot-app-secret"


def hubspot_headers(url: str, body: bytes) -> dict:
    timestamp = str(int(time.time() * 1000))
    source = b"POST" + url.encode() + body + timestamp.encode()
    digest = hmac.new(CLIENT_SECRET.encode(), source, hashlib.sha256).digest()
    return {"X-HubSpot-Signature-v3": base64.b64encode(digest).decode(), "X-HubSpot-Request-Timestamp": timestamp}


def batch(*events: tuple[int, str, int]) -> bytes:
    return json.dumps(
        [
            {
                "eventId": event_id,
                "subscriptionType": kind,
                "objectId": object_id,
                "portalId": 62515,
                "attemptNumber": 0,
            }
            for event_id, kind, object_id in events
        ]
    ).encode()


def test_a_batch_becomes_one_event_per_item_and_a_retried_batch_stores_only_what_is_new(api, acme, post_hook):
    crm = acme.connection("hubspot", credentials={"client_secret": CLIENT_SECRET})
    endpoint = acme.endpoint(api, connection=crm)
    url = "http://localhost" + hook_path(endpoint)  # as the test client's request arrives

    first = batch((101, "contact.creation", 1), (102, "deal.propertyChange", 2))
    response = post_hook(endpoint, first, hubspot_headers(url, first))
    assert response.status_code == 200, response.content
    assert len(response.json()["events"]) == 2

    retried = batch((102, "deal.propertyChange", 2), (103, "contact.deletion", 3))
    response = post_hook(endpoint, retried, hubspot_headers(url, retried))
    assert response.status_code == 200, response.content
    assert response.json()["duplicates"] == 1

    with schema_context(acme.schema):
        events = {e.external_id: (e.type, e.payload["objectId"]) for e in Event.objects.all()}
    assert events == {
        "101": ("hubspot.contact.creation", 1),
        "102": ("hubspot.deal.propertychange", 2),
        "103": ("hubspot.contact.deletion", 3),
    }
