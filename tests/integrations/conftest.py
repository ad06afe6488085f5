"""Fixtures for integrations: a tenant with one member per role, connections stored like the API stores them,
inbound endpoints created through the API, and the helpers to post webhooks to them."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from apps.integrations import dispatch
from tests.factories import bearer, make_member, make_tenant

ROLES = ("owner", "admin", "member", "viewer")


class Org:
    def __init__(self, slug: str):
        self.tenant = make_tenant(slug=slug)
        self.people = {role: make_member(self.tenant, role, email=f"{role}@{slug}.test") for role in ROLES}

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    def auth(self, role: str = "admin") -> dict:
        return bearer(self.people[role], self.tenant)

    def connection(self, provider: str, *, config: dict | None = None, credentials: dict | None = None, name=None):
        with schema_context(self.schema):
            return Connection.objects.create(
                provider=provider,
                name=name or f"{provider} connection",
                config=config or {},
                credentials=credentials or {},
                status=Connection.Status.ACTIVE,
            )

    def endpoint(self, api, *, connection=None, scheme="provider", name="Inbound") -> dict:
        body = {"name": name, "scheme": scheme, "connection": connection.pk if connection else None}
        response = api.post("/api/v1/webhooks/endpoints/", body, **self.auth())
        assert response.status_code == 201, response.content
        return response.json()

    def big_orders_to(self, api, receiver_url: str) -> tuple[dict, dict]:
        """A subscription to `shopify.order.*` at `receiver_url` and a rule sending orders over 50 to it, through
        the API: the (subscription, rule) as the API answered."""
        sub = api.post(
            "/api/v1/webhooks/subscriptions/",
            {"url": receiver_url, "event_types": ["shopify.order.*"]},
            **self.auth(),
        )
        assert sub.status_code == 201, sub.content
        rule = api.post(
            "/api/v1/rules/",
            {
                "name": "Big orders",
                "trigger_event": "shopify.order.create",
                "conditions": [{"field": "payload.total_price", "op": "gt", "value": 50}],
                "actions": [{"type": "send_to_subscription", "subscription": sub.json()["id"]}],
            },
            **self.auth(),
        )
        assert rule.status_code == 201, rule.content
        return sub.json(), rule.json()

    def run(self, fn, *args, **kwargs):
        """Runs a dispatch step the way the Celery task does: inside this tenant's schema."""
        with schema_context(self.schema):
            return fn(*args, **kwargs)

    def process_pending(self) -> None:
        """Does what the worker does for every pending event (fan-out), in this tenant's schema."""
        from apps.integrations.models import Event

        with schema_context(self.schema):
            for event_id in Event.objects.filter(status=Event.Status.PENDING).values_list("pk", flat=True):
                dispatch.event_process(event_id)


@pytest.fixture
def acme(db):
    return Org("acme")


@pytest.fixture
def globex(db):
    return Org("globex")


def hook_path(endpoint: dict) -> str:
    return "/hooks/" + endpoint["url"].rstrip("/").rsplit("/", 1)[1] + "/"


@pytest.fixture
def post_hook(client):
    """post_hook(endpoint, body: bytes, headers: dict, query="") -> response, as a platform posts it."""

    def send(endpoint: dict, body: bytes, headers: dict | None = None, *, query: str = "", method: str = "post"):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        path = hook_path(endpoint) + (f"?{query}" if query else "")
        content_type = extra.pop("HTTP_CONTENT_TYPE", "application/json")
        if method == "get":
            return client.get(path, HTTP_HOST="localhost", **extra)
        return client.post(path, body, content_type=content_type, HTTP_HOST="localhost", **extra)

    return send
