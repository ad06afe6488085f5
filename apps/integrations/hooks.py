"""`/hooks/<token>/`: where platforms post webhooks. Routed by the token (public table) to the tenant schema
and endpoint; verified before anything else; stored before it is answered."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import schema_context

from apps.accounts.models import Tenant
from apps.integrations.inbound import WEBHOOKS, accept
from apps.integrations.models import InboundEndpoint
from apps.integrations.routing.models import WebhookRoute

NOT_FOUND = {"detail": "No such webhook endpoint."}


def _headers(request) -> dict[str, str]:
    return dict(request.headers.items())


@csrf_exempt
def receive(request, token: str):
    if request.method not in ("POST", "PUT", "GET", "HEAD"):
        return JsonResponse({"detail": "Webhooks are delivered with POST."}, status=405)
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        WEBHOOKS.labels("unknown", "too_large").inc()
        return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
    route = (
        WebhookRoute.objects.select_related("tenant")
        .filter(token=token, tenant__status=Tenant.Status.ACTIVE)
        .only("endpoint_id", "tenant__schema_name")
        .first()
    )
    if route is None:
        return JsonResponse(NOT_FOUND, status=404)
    body = request.read(limit + 1)
    if len(body) > limit:
        WEBHOOKS.labels("unknown", "too_large").inc()
        return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
    schema = route.tenant.schema_name
    with schema_context(schema):
        endpoint = (
            InboundEndpoint.objects.select_related("connection")
            .filter(pk=route.endpoint_id, token=token, enabled=True)
            .first()
        )
        if endpoint is None:
            return JsonResponse(NOT_FOUND, status=404)
        outcome = accept(
            endpoint,
            schema=schema,
            method=request.method,
            url=request.build_absolute_uri(),
            headers=_headers(request),
            query={key: request.GET.get(key) for key in request.GET},
            body=body,
        )
    if outcome.content_type == "text/plain":
        return HttpResponse(outcome.body, status=outcome.status, content_type="text/plain")
    return JsonResponse(outcome.body, status=outcome.status)
