"""The floor for bench/webhook_ingest.py: a Django WSGI application with one view that stores the posted body as
an Event in the tenant schema named by the query (one INSERT) and nothing else: no middleware, no routing
lookup, no verification, no dedup, no queueing (the row is stored as processed: there is nothing to fan out, and
the sweeper must not queue it later). Served by the same gunicorn command line as the gateway:
`gunicorn bench._webhook_floor:application ...` from the repository root."""

from __future__ import annotations

import json
import os

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import JsonResponse
from django.test.utils import override_settings
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizosaas.settings.dev")
django.setup(set_prefix=False)

from django_tenants.utils import schema_context  # noqa: E402 (needs the apps loaded)

from apps.integrations.models import Event  # noqa: E402
from bizosaas.health import healthz  # noqa: E402

EVENT_TYPE = "custom.order.created"  # what the gateway's normalisation makes of the bench's `order.created`


def ingest(request):
    body = request.body
    with schema_context(request.GET["schema"]):
        Event.objects.create(
            source=Event.Source.WEBHOOK,
            endpoint_id=int(request.GET["endpoint"]),
            provider="custom",
            external_id=request.headers.get("webhook-id", "")[:255],
            type=EVENT_TYPE,
            raw_type="order.created",
            payload=json.loads(body).get("data", {}),
            body=body,
            status=Event.Status.PROCESSED,
        )
    return JsonResponse({"status": "accepted"})


urlpatterns = [
    path("healthz", healthz),
    path("ingest/", ingest),
]


class FloorHandler(WSGIHandler):
    """Django's own WSGI handler with an empty middleware stack and this module as the URL conf."""

    def load_middleware(self, is_async=False):
        with override_settings(MIDDLEWARE=[]):
            super().load_middleware(is_async)

    def get_response(self, request):
        request.urlconf = __name__
        return super().get_response(request)


application = FloorHandler()
