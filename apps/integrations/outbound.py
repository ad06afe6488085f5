"""Outbound webhooks: the tenant's subscriptions, and delivering events to them signed with Standard Webhooks,
retried on a schedule, logged per attempt, replayable."""

from __future__ import annotations

import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from prometheus_client import Counter, Histogram
from standardwebhooks.webhooks import Webhook

from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.exceptions import ConnectorError
from apps.connectors.http import WEBHOOK_EXCERPT, guard_host, post_webhook
from apps.connectors.models import Connection
from apps.integrations import queueing
from apps.integrations.expressions import check_type_pattern, type_matches
from apps.integrations.inbound import new_signing_secret
from apps.integrations.models import Delivery, DeliveryAttempt, Event, Subscription
from bizosaas.bulk import rows_update

logger = logging.getLogger(__name__)

DELIVERIES = Counter(
    "bizosaas_webhook_deliveries_total",
    "Outbound webhook attempts by outcome",
    ["outcome"],  # succeeded | retrying | failed | gone
)
DELIVERY_LATENCY = Histogram("bizosaas_webhook_delivery_seconds", "Outbound webhook attempt latency")


# --- subscriptions -------------------------------------------------------------------------------------------


def _check_url(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": ["This field is required."]})
    url = url.strip()
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        raise ValidationError({"url": ["Enter a valid http(s) URL."]}) from None
    if len(url) > 500:
        raise ValidationError({"url": ["At most 500 characters."]})
    try:
        guard_host(url)
    except ConnectorError as exc:
        raise ValidationError({"url": [exc.message]}) from None
    return url


def _check_event_types(value) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 50:
        raise ValidationError({"event_types": ["A list of 1 to 50 event type patterns, e.g. shopify.order.*."]})
    errors = {}
    for index, pattern in enumerate(value):
        problem = check_type_pattern(pattern)
        if problem:
            errors[f"event_types.{index}"] = [problem]
    if errors:
        raise ValidationError(errors)
    return list(dict.fromkeys(value))


def subscription_create(
    *,
    tenant: Tenant,
    actor: Actor,
    user_id: int | None,
    url,
    event_types,
    description: str = "",
    connection: Connection | None = None,
    enabled: bool = True,
) -> tuple[Subscription, str]:
    """Returns the subscription and its signing secret, which is shown this once."""
    errors = {}
    for check, value in ((_check_url, url), (_check_event_types, event_types)):
        try:
            check(value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    secret = new_signing_secret()
    with transaction.atomic():
        subscription = Subscription.objects.create(
            url=_check_url(url),
            event_types=_check_event_types(event_types),
            description=(description or "")[:300],
            connection=connection,
            enabled=bool(enabled),
            secrets={"current": secret},
            created_by_id=user_id,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="subscription.created",
            obj=subscription,
            changes={"url": subscription.url, "event_types": subscription.event_types},
        )
    return subscription, secret


@transaction.atomic
def subscription_update(*, tenant: Tenant, actor: Actor, subscription: Subscription, data: dict) -> Subscription:
    changes: dict[str, Any] = {}
    if "url" in data:
        subscription.url = _check_url(data["url"])
        changes["url"] = subscription.url
    if "event_types" in data:
        subscription.event_types = _check_event_types(data["event_types"])
        changes["event_types"] = subscription.event_types
    if "description" in data:
        subscription.description = str(data["description"] or "")[:300]
    if "connection" in data:
        subscription.connection = data["connection"]
        changes["connection"] = subscription.connection_id
    if "enabled" in data and bool(data["enabled"]) != subscription.enabled:
        subscription.enabled = bool(data["enabled"])
        changes["enabled"] = subscription.enabled
        if subscription.enabled:  # a fresh start: the failure streak that disabled it is forgiven
            subscription.disabled_reason, subscription.disabled_at = "", None
            subscription.failing_since, subscription.consecutive_failures = None, 0
        else:
            subscription.disabled_reason, subscription.disabled_at = "Disabled by a user.", timezone.now()
    subscription.save()
    audit_record(tenant=tenant, actor=actor, action="subscription.updated", obj=subscription, changes=changes)
    return subscription


@transaction.atomic
def subscription_rotate_secret(*, tenant: Tenant, actor: Actor, subscription: Subscription) -> str:
    """A new secret signs from now on; the old one still signs too (a second signature) for the grace period."""
    secret = new_signing_secret()
    grace_until = timezone.now() + timedelta(seconds=settings.WEBHOOK_SECRET_GRACE_SECONDS)
    subscription.secrets = {
        "current": secret,
        "previous": subscription.secrets.get("current"),
        "previous_expires_at": grace_until.isoformat(),
    }
    subscription.save(update_fields=["secrets", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="subscription.secret_rotated",
        obj=subscription,
        changes={"old_secret_valid_until": grace_until.isoformat()},
    )
    return secret


def subscription_delete(*, tenant: Tenant, actor: Actor, subscription: Subscription) -> None:
    audit_record(tenant=tenant, actor=actor, action="subscription.deleted", obj=subscription)
    subscription.delete()


def subscriptions_matching(subscriptions, event: Event) -> list[Subscription]:
    """Those of the (enabled) subscriptions that take the event: its connection's or any connection's, and one of
    their event types matches."""
    return [
        s
        for s in subscriptions
        if (s.connection_id is None or s.connection_id == event.connection_id)
        and any(type_matches(p, event.type) for p in s.event_types)
    ]


# --- delivering ----------------------------------------------------------------------------------------------


def signing_secrets(subscription: Subscription) -> list[str]:
    secrets = [subscription.secrets["current"]]
    previous, until = subscription.secrets.get("previous"), subscription.secrets.get("previous_expires_at")
    if previous and until and datetime.fromisoformat(until) > timezone.now():
        secrets.append(previous)
    return secrets


def message_body(event: Event) -> bytes:
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.received_at.isoformat(),
            "data": {
                "event_id": str(event.uid),
                "source": event.source,
                "provider": event.provider or None,
                "connection_id": event.connection_id,
                "provider_event_id": event.external_id or None,
                "payload": event.payload,
            },
        },
        separators=(",", ":"),
        default=str,
    ).encode()


def signed_headers(subscription: Subscription, msg_id: str, body: bytes) -> dict[str, str]:
    now = timezone.now()
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(msg_id, now, text) for secret in signing_secrets(subscription))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


def next_delay(attempts: int, retry_after: float | None) -> float | None:
    """Seconds until the next try after `attempts` failed tries, or None when the schedule is exhausted."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts >= len(schedule):
        return None
    delay = schedule[attempts] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter: retries of many endpoints spread out
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.WEBHOOK_MAX_RETRY_AFTER))
    return delay


def delivery_claim(delivery_id: int) -> Delivery | None:
    """Marks a due delivery as being sent; None when it is not due or another worker has it."""
    claimed = deliveries_claim([delivery_id])
    return claimed[0] if claimed else None


def due_rows_claim(model, ids: list[int], to_status: str, stamp: str, *, count_attempt: bool = False) -> set[int]:
    """Moves those of the rows (deliveries or action runs) that are pending and due within a second to `to_status`,
    stamping `stamp` with now (and counting an attempt), in one statement; the ids it moved."""
    now = timezone.now()
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(stamp).column)
    attempts = ", attempts = attempts + 1" if count_attempt else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, {column} = %s{attempts} "  # noqa: S608 - names are the model's
            "WHERE id = ANY(%s) AND status = %s AND next_attempt_at <= %s RETURNING id",
            [to_status, now, list(ids), "pending", now + timedelta(seconds=1)],
        )
        return {row[0] for row in cursor.fetchall()}


def deliveries_claim(delivery_ids: list[int]) -> list[Delivery]:
    """Marks those of the deliveries that are due as being sent, in one statement, and loads them with their
    event and subscription in one more; the others (not due, done, or another worker's) are left alone."""
    if not delivery_ids:
        return []
    claimed = due_rows_claim(Delivery, delivery_ids, Delivery.Status.SENDING, "claimed_at")
    if not claimed:
        return []
    return list(Delivery.objects.select_related("event", "subscription").filter(pk__in=claimed).order_by("pk"))


def _settle(delivery: Delivery, **fields) -> None:
    """Writes the delivery's new state and keeps the instance in step (the caller needs no re-read)."""
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


# A success is stamped on its subscription at most this often while the subscription is healthy: at a steady rate
# every delivery would otherwise rewrite (and lock) the same subscription row.
SUCCESS_STAMP_SECONDS = 1.0
_SUCCEEDED_FIELDS = ["attempts", "last_status_code", "last_error", "enqueued_at", "status", "succeeded_at"]

_post_pool: ThreadPoolExecutor | None = None
_post_pool_lock = threading.Lock()


def _posts(requests: list[tuple[str, bytes, dict]]) -> list:
    """POSTs (url, body, headers) each, at once from a pool of this process, each within WEBHOOK_TIMEOUT; their
    results in order. One request is sent from the calling thread."""
    global _post_pool
    timeout = settings.WEBHOOK_TIMEOUT
    if len(requests) == 1:
        url, body, headers = requests[0]
        return [post_webhook(url, body=body, headers=headers, timeout=timeout)]
    with _post_pool_lock:
        if _post_pool is None:
            _post_pool = ThreadPoolExecutor(settings.DELIVERY_BATCH_SIZE, thread_name_prefix="webhook-post")
    futures = [
        _post_pool.submit(post_webhook, url, body=body, headers=headers, timeout=timeout)
        for url, body, headers in requests
    ]
    return [future.result() for future in futures]  # post_webhook never raises and ends by its deadline


def delivery_attempt(delivery: Delivery, *, trigger: str = "scheduled") -> DeliveryAttempt:
    """One POST of a claimed delivery, recorded, then the delivery rescheduled, completed or given up (the instance
    is left in the state written)."""
    return deliveries_attempt([delivery], trigger=trigger)[0]


def deliveries_attempt(deliveries: list[Delivery], *, trigger: str = "scheduled") -> list[DeliveryAttempt]:
    """One POST of each claimed delivery, all sent at once (at most DELIVERY_BATCH_SIZE), so the batch takes as
    long as its slowest endpoint, within WEBHOOK_TIMEOUT. Recorded like one attempt each, with the writes of the
    successes together: one INSERT of the attempts, one UPDATE of the deliveries, one of their subscriptions.
    Each instance is left in the state written; the attempts are returned in the deliveries' order."""
    logs: dict[int, DeliveryAttempt] = {}
    sending: list[Delivery] = []
    for delivery in deliveries:
        if delivery.subscription.enabled:
            sending.append(delivery)
            continue
        number = delivery.attempts + 1
        _settle(
            delivery,
            status=Delivery.Status.FAILED,
            last_error="The subscription is disabled.",
            next_attempt_at=None,
            attempts=number,
        )
        logs[delivery.pk] = DeliveryAttempt.objects.create(
            delivery=delivery, number=number, trigger=trigger, error="Not sent: the subscription is disabled."
        )
    requests = []
    for delivery in sending:
        body = message_body(delivery.event)
        requests.append((delivery.subscription.url, body, signed_headers(delivery.subscription, delivery.msg_id, body)))
    results = _posts(requests) if requests else []
    attempts = []
    for delivery, result in zip(sending, results, strict=True):
        DELIVERY_LATENCY.observe(result.latency_ms / 1000)
        attempts.append(
            DeliveryAttempt(
                delivery=delivery,
                number=delivery.attempts + 1,
                trigger=trigger,
                status_code=result.status,
                latency_ms=result.latency_ms,
                response_excerpt=result.excerpt[:WEBHOOK_EXCERPT],
                error=result.error[:500],
            )
        )
    DeliveryAttempt.objects.bulk_create(attempts)
    now = timezone.now()
    succeeded = []
    for delivery, result, log in zip(sending, results, attempts, strict=True):
        logs[delivery.pk] = log
        error = result.error or ("" if result.ok else f"HTTP {result.status}")
        fields = {
            "attempts": delivery.attempts + 1,
            "last_status_code": result.status,
            "last_error": error[:500],
            "enqueued_at": None,
        }
        if result.ok:
            DELIVERIES.labels("succeeded").inc()
            for name, value in {**fields, "status": Delivery.Status.SUCCEEDED, "succeeded_at": now}.items():
                setattr(delivery, name, value)
            succeeded.append(delivery)
        else:
            _failed(delivery, result, fields, now)
    if len(succeeded) == 1:
        _settle(succeeded[0], **{name: getattr(succeeded[0], name) for name in _SUCCEEDED_FIELDS}, next_attempt_at=None)
    elif succeeded:
        for delivery in succeeded:
            delivery.next_attempt_at = None
        rows_update(succeeded, [*_SUCCEEDED_FIELDS, "next_attempt_at"])
    if succeeded:
        # healthy and stamped within the last second: nothing to write (the condition is checked in the database,
        # so a failure another worker recorded meanwhile is still cleared)
        Subscription.objects.filter(pk__in={delivery.subscription_id for delivery in succeeded}).filter(
            Q(consecutive_failures__gt=0)
            | Q(failing_since__isnull=False)
            | Q(last_success_at__isnull=True)
            | Q(last_success_at__lt=now - timedelta(seconds=SUCCESS_STAMP_SECONDS))
        ).update(last_success_at=now, failing_since=None, consecutive_failures=0)
    return [logs[delivery.pk] for delivery in deliveries]


def _failed(delivery: Delivery, result, fields: dict, now) -> None:
    """A failed POST: counted on the subscription, then the delivery retried on the schedule, or given up (and the
    subscription disabled on a 410 or after sustained failure)."""
    subscription = delivery.subscription
    Subscription.objects.filter(pk=subscription.pk).update(
        last_failure_at=now, consecutive_failures=F("consecutive_failures") + 1
    )
    Subscription.objects.filter(pk=subscription.pk, failing_since__isnull=True).update(failing_since=now)
    if result.status == 410:
        DELIVERIES.labels("gone").inc()
        _settle(delivery, **fields, status=Delivery.Status.FAILED, next_attempt_at=None)
        subscription_disable(subscription, reason="The endpoint answered 410 Gone.")
        return
    delay = next_delay(fields["attempts"], result.retry_after)  # a replay of an exhausted delivery is that one try
    if delay is None:
        DELIVERIES.labels("failed").inc()
        _settle(delivery, **fields, status=Delivery.Status.FAILED, next_attempt_at=None)
        _maybe_disable(subscription.pk)
    else:
        DELIVERIES.labels("retrying").inc()
        _settle(delivery, **fields, status=Delivery.Status.PENDING, next_attempt_at=now + timedelta(seconds=delay))


def _maybe_disable(subscription_id: int) -> None:
    """Sustained failure: failing for WEBHOOK_DISABLE_AFTER_SECONDS with no success in between and at least
    WEBHOOK_DISABLE_MIN_FAILURES failed attempts."""
    subscription = Subscription.objects.get(pk=subscription_id)
    if not subscription.enabled or subscription.failing_since is None:
        return
    failing_for = (timezone.now() - subscription.failing_since).total_seconds()
    if (
        failing_for >= settings.WEBHOOK_DISABLE_AFTER_SECONDS
        and subscription.consecutive_failures >= settings.WEBHOOK_DISABLE_MIN_FAILURES
    ):
        hours = failing_for / 3600
        subscription_disable(subscription, reason=f"Every delivery failed for {hours:.0f} h; disabled automatically.")


def subscription_disable(subscription: Subscription, *, reason: str) -> None:
    """Disables the endpoint and raises `bizosaas.subscription.disabled` (other subscriptions and rules see it)."""
    updated = Subscription.objects.filter(pk=subscription.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=timezone.now()
    )
    if not updated:
        return
    logger.warning("subscription disabled", extra={"subscription": subscription.pk, "reason": reason})
    queueing.event_emit(
        "bizosaas.subscription.disabled",
        {"subscription_id": subscription.pk, "url": subscription.url, "reason": reason},
        connection=subscription.connection,
    )


def delivery_replay(delivery: Delivery) -> Delivery:
    """Sends the delivery again now (one more attempt, whatever its state)."""
    Delivery.objects.filter(pk=delivery.pk).exclude(status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, next_attempt_at=timezone.now(), enqueued_at=None, last_error=""
    )
    delivery.refresh_from_db()
    queueing.enqueue_delivery(delivery.pk, replay=True)
    return delivery


def subscription_replay_failed(subscription: Subscription, *, since) -> int:
    """Replays every failed delivery of the subscription created at or after `since`; returns how many."""
    ids = list(
        Delivery.objects.filter(
            subscription=subscription, status=Delivery.Status.FAILED, created_at__gte=since
        ).values_list("pk", flat=True)
    )
    for delivery in Delivery.objects.filter(pk__in=ids):
        delivery_replay(delivery)
    return len(ids)
