"""The built-in test receiver: a URL on the gateway, one per workspace, that takes the workspace's outbound
deliveries, verifies their Standard Webhooks signature against the secrets of the workspace's own subscriptions
to it, and keeps the newest requests with the verdict for the portal to show. It is how a user checks a
subscription (and what its signature looks like) before pointing it at production.

The URL is `/receiver/<slug>/<token>/` on the public domain; the token is an HMAC of the tenant schema with the
platform's SECRET_KEY, so it cannot be guessed or made up for another workspace and needs no table of its own.

Bounded so that no tenant can use it as storage or as an amplifier: it takes at most
TEST_RECEIVER_REQUESTS_PER_MINUTE requests a minute per workspace (429 beyond, before the body is read), reads at
most WEBHOOK_MAX_BODY_BYTES of a body (413 beyond, nothing kept), keeps at most TEST_RECEIVER_MAX_BODY_BYTES of
each body and only the newest TEST_RECEIVER_KEEP requests, answers with a few bytes, and raises no events (a
subscription to `*` pointed here cannot loop).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardVerificationError

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.signing import lowered, matches
from apps.integrations.inbound import safe_headers
from apps.integrations.models import ReceivedRequest, Subscription
from apps.integrations.outbound import signing_secrets

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 5 * 60  # as the Standard Webhooks libraries verify
NOT_FOUND = {"detail": "No such test receiver."}
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def receiver_token(schema: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"bizosaas.test-receiver:{schema}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def receiver_path(tenant: Tenant) -> str:
    return f"/receiver/{tenant.slug}/{receiver_token(tenant.schema_name)}/"


def receiver_url(tenant: Tenant) -> str:
    return settings.GATEWAY_URL.rstrip("/") + receiver_path(tenant)


def _same_target(url: str, target: str) -> bool:
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/") == target.rstrip("/")


def receiver_subscriptions(tenant: Tenant) -> list[Subscription]:
    """The workspace's subscriptions that point at its test receiver (run in the tenant's schema)."""
    target = receiver_path(tenant)
    return [s for s in Subscription.objects.filter(url__contains=target) if _same_target(s.url, receiver_url(tenant))]


def _within_rate(schema: str) -> int | None:
    """None when the request may go on; else the seconds until the minute's window ends. Redis down: allowed."""
    now = time.time()
    window = int(now // 60)
    key = f"bzs:test-receiver:{schema}:{window}"
    try:
        cache.add(key, 0, timeout=90)
        used = cache.incr(key)
    except ValueError:  # expired between add and incr: a fresh window
        return None
    if used is None or used <= settings.TEST_RECEIVER_REQUESTS_PER_MINUTE:
        return None
    return max(1, int(60 - now % 60))


def verdict_of(tenant: Tenant, headers: dict[str, str], body: bytes) -> tuple[str, str, Subscription | None]:
    """(verdict, detail, the subscription whose secret verified it)."""
    lower = lowered(headers)
    missing = [name for name in SIGNATURE_HEADERS if not lower.get(name)]
    if missing:
        return ReceivedRequest.Verdict.UNSIGNED, f"Missing {', '.join(missing)}.", None
    try:
        sent_at = int(lower["webhook-timestamp"])
    except ValueError:
        return ReceivedRequest.Verdict.INVALID, "webhook-timestamp is not a Unix time in seconds.", None
    drift = int(time.time()) - sent_at
    if abs(drift) > TOLERANCE_SECONDS:
        when = "old" if drift > 0 else "in the future"
        return ReceivedRequest.Verdict.STALE, f"webhook-timestamp is {abs(drift)} s {when} (at most 300 s).", None
    subscriptions = receiver_subscriptions(tenant)
    if not subscriptions:
        return ReceivedRequest.Verdict.INVALID, "No subscription of this workspace points at this receiver.", None
    for subscription in subscriptions:
        for secret in signing_secrets(subscription):
            try:
                Webhook(secret).verify(body, lower, json_parse=False)
            except (StandardVerificationError, ValueError, UnicodeDecodeError):
                continue
            detail = f"Signed with the secret of subscription {subscription.pk}."
            return ReceivedRequest.Verdict.VERIFIED, detail, subscription
    return (
        ReceivedRequest.Verdict.INVALID,
        "The signature matches no secret of this workspace's subscriptions to this receiver.",
        None,
    )


def _event_type(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    value = parsed.get("type") if isinstance(parsed, dict) else None
    return str(value)[:200] if isinstance(value, str) else ""


def _keep_newest() -> None:
    cutoff = list(
        ReceivedRequest.objects.order_by("-id").values_list("id", flat=True)[
            settings.TEST_RECEIVER_KEEP : settings.TEST_RECEIVER_KEEP + 1
        ]
    )
    if cutoff:
        ReceivedRequest.objects.filter(id__lte=cutoff[0]).delete()


@csrf_exempt
def receive(request, slug: str, token: str):
    if request.method != "POST":
        response = JsonResponse({"detail": "The test receiver takes POST requests."}, status=405)
        response["Allow"] = "POST"
        return response
    tenant = Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()
    if tenant is None or not matches(token, receiver_token(tenant.schema_name)):
        return JsonResponse(NOT_FOUND, status=404)
    wait = _within_rate(tenant.schema_name)
    if wait is not None:
        response = JsonResponse(
            {
                "detail": f"The test receiver takes {settings.TEST_RECEIVER_REQUESTS_PER_MINUTE} requests a minute "
                "per workspace; try again later.",
                "code": "test_receiver_busy",
                "retry_after": wait,
            },
            status=429,
        )
        response["Retry-After"] = str(wait)
        return response
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = b"" if declared > limit else request.read(limit + 1)
    if declared > limit or len(body) > limit:
        return JsonResponse({"detail": f"Body larger than {limit} bytes."}, status=413)
    headers = dict(request.headers.items())
    with schema_context(tenant.schema_name):
        verdict, detail, subscription = verdict_of(tenant, headers, body)
        status = 200 if verdict == ReceivedRequest.Verdict.VERIFIED else 401
        kept = body[: settings.TEST_RECEIVER_MAX_BODY_BYTES]
        lower = lowered(headers)
        ReceivedRequest.objects.create(
            method=request.method,
            headers=safe_headers(headers, [], keep_signatures=True),
            body=kept.decode("utf-8", "replace"),
            body_bytes=len(body),
            truncated=len(kept) < len(body),
            verdict=verdict,
            detail=detail[:300],
            webhook_id=str(lower.get("webhook-id", ""))[:100],
            event_type=_event_type(body),
            subscription=subscription,
            status_code=status,
        )
        _keep_newest()
    if status == 200:
        return JsonResponse({"status": "received", "verdict": verdict})
    return JsonResponse({"detail": f"Not accepted: {detail}", "verdict": verdict}, status=status)


# --- reading and clearing (the API) --------------------------------------------------------------------------


def received_list() -> list[ReceivedRequest]:
    return list(ReceivedRequest.objects.select_related("subscription")[: settings.TEST_RECEIVER_KEEP])


def received_clear(*, tenant: Tenant, actor: Actor) -> int:
    deleted, _ = ReceivedRequest.objects.all().delete()
    audit_record(tenant=tenant, actor=actor, action="test_receiver.cleared", obj=tenant, changes={"requests": deleted})
    return deleted
