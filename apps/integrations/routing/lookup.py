"""Which tenant schema and endpoint a webhook's token names, as `/hooks/<token>/` asks on every request: the
public routing table (WebhookRoute) and the endpoint row, kept in the process for a short while."""

from __future__ import annotations

import time

from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.integrations.models import InboundEndpoint
from apps.integrations.routing.models import WebhookRoute

# token -> (expires at, schema, endpoint with its connection): a webhook then costs one INSERT and no lookups.
# Writes in this process drop their entries at once (apps/integrations/signals.py); other gateway processes see
# a disabled, rotated or deleted endpoint, a changed connection secret or a suspended tenant within
# WEBHOOK_ROUTE_CACHE_SECONDS.
_endpoints: dict[str, tuple[float, str, InboundEndpoint]] = {}


def forget_route(token: str) -> None:
    _endpoints.pop(token, None)


def forget_where(*, schema: str, connection_id: int | None = None) -> None:
    for token, (_expires, cached_schema, endpoint) in list(_endpoints.items()):
        if cached_schema == schema and (connection_id is None or endpoint.connection_id == connection_id):
            _endpoints.pop(token, None)


def endpoint_lookup(token: str) -> tuple[str, InboundEndpoint] | None:
    now = time.monotonic()
    cached = _endpoints.get(token)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    route = (
        WebhookRoute.objects.filter(token=token, tenant__status=Tenant.Status.ACTIVE)
        .values_list("tenant__schema_name", "endpoint_id")
        .first()
    )
    if route is None:
        _endpoints.pop(token, None)
        return None
    schema, endpoint_id = route
    with schema_context(schema):
        endpoint = (
            InboundEndpoint.objects.select_related("connection")
            .filter(pk=endpoint_id, token=token, enabled=True)
            .order_by()
            .first()
        )
    if endpoint is None:
        _endpoints.pop(token, None)
        return None
    if len(_endpoints) > 10000:
        _endpoints.clear()
    _endpoints[token] = (now + settings.WEBHOOK_ROUTE_CACHE_SECONDS, schema, endpoint)
    return schema, endpoint
