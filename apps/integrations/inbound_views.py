"""`/hooks/<token>/`: where platforms post webhooks. Routed by the token (public table) to the tenant schema
and endpoint; verified before anything else; stored before it is answered."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import schema_context

from apps.accounts import quotas
from apps.integrations.inbound import WEBHOOKS, EventsCount, webhook_accept
from apps.integrations.models import InboundEndpoint
from apps.integrations.routing.lookup import endpoint_lookup
from bizosaas import refusals

NOT_FOUND = {"detail": "No such webhook endpoint."}

# An endpoint over its requests per second is refused by this process for the rest of that second without asking
# Redis again (bizosaas.refusals): exact, not an approximation, since the window's counter only grows, so every
# later answer in the window would be the same refusal. bizosaas.wsgi asks before Django's middleware runs, so a
# flood's excess costs microseconds and one log line per window.
REFUSED_LIMIT = "webhook_requests_per_second"


def _remember_refusal(token: str, exc: quotas.QuotaExceeded) -> None:
    if exc.limit.key != REFUSED_LIMIT or exc.window_end is None:
        return
    refusals.hold(
        refusals.hook_key(token),
        kind="webhook_rate",
        seconds=(exc.window_end - timezone.now()).total_seconds(),
        status=exc.status_code,
        body=exc.body(),
        headers=exc.headers(),
        limit=REFUSED_LIMIT,
    )


def token_of(path: str) -> str | None:
    """The token of a `/hooks/<token>/` path, else None."""
    if not path.startswith("/hooks/") or not path.endswith("/"):
        return None
    token = path[7:-1]
    return token if token and "/" not in token else None


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
    found = endpoint_lookup(token)
    if found is None:
        return JsonResponse(NOT_FOUND, status=404)
    schema, endpoint = found
    held = refusals.held(refusals.hook_key(token))
    if held is not None:
        status, content, headers = held
        response = HttpResponse(content, status=status, content_type="application/json")
        for name, value in headers:
            response[name] = value
        return response
    events = EventsCount(schema)
    try:
        # per endpoint, before the body is even read: a flood costs one Redis call per request and stores nothing.
        # The same call counts the event against the day's (given back by webhook_accept() if none is stored).
        counters = [(REFUSED_LIMIT, str(endpoint.pk)), ("events_per_day", "")]
        events.counted = 1 if quotas.consume_in_turn(schema, counters) else 0
    except quotas.QuotaExceeded as exc:
        if exc.limit.key == REFUSED_LIMIT:
            _remember_refusal(token, exc)
            return _quota_response(exc)
        events.refused = exc  # over the day's events: answered once verified (a repeat still gets its 200)
    try:
        return _store(request, endpoint, schema, limit, events)
    finally:
        events.settle()  # what was counted and not stored (too large, rejected, a repeat, an error) is given back


def _store(request, endpoint: InboundEndpoint, schema: str, limit: int, events: EventsCount) -> HttpResponse:
    body = request.read(limit + 1)
    if len(body) > limit:
        WEBHOOKS.labels("unknown", "too_large").inc()
        return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
    with schema_context(schema):
        try:
            outcome = webhook_accept(
                endpoint,
                schema=schema,
                method=request.method,
                url=request.build_absolute_uri(),
                headers=dict(request.headers.items()),
                query={key: request.GET.get(key) for key in request.GET},
                body=body,
                events=events,
            )
        except quotas.QuotaExceeded as exc:  # events per day: verified, but not stored
            return _quota_response(exc)
    if outcome.content_type == "text/plain":
        return HttpResponse(outcome.body, status=outcome.status, content_type="text/plain")
    return JsonResponse(outcome.body, status=outcome.status)


def _quota_response(exc: quotas.QuotaExceeded) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status_code)
    for name, value in exc.headers().items():
        response[name] = value
    return response
