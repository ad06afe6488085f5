"""Inbound webhooks: endpoints (create, rotate, delete), verification with each platform's own scheme or
Standard Webhooks, and durable acceptance: verified -> stored (deduplicated) -> answered -> fanned out later."""

from __future__ import annotations

import json
import logging
import re
import secrets as pysecrets
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardVerificationError

from apps.accounts import quotas
from apps.accounts.audit.services import Actor, audit_record
from apps.accounts.models import Tenant
from apps.connectors.base import Provider, WebhookVerificationError
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.connectors.signing import lowered
from apps.integrations import queueing
from apps.integrations.models import Event, InboundEndpoint
from apps.integrations.routing.lookup import forget_route
from apps.integrations.routing.models import WebhookRoute

logger = logging.getLogger(__name__)

WEBHOOKS = Counter(
    "bizosaas_webhooks_received_total",
    "Inbound webhook requests by provider (or standard_webhooks) and outcome",
    ["provider", "outcome"],  # accepted | duplicate | rejected | too_large | handshake | unavailable
)

SECRET_HEADER_WORDS = ("secret", "token", "password", "api-key", "apikey", "authorization", "cookie")
# a verified request's signature is of no further use to anyone, and where the provider signs only the body
# (Shopify, WooCommerce, Facebook, Intercom) the body plus its signature could be posted again as a new event
SIGNATURE_HEADER_WORDS = ("signature", "hmac")
REDACTED = "[redacted]"
MIN_REDACTED_SECRET = 8  # shorter values are not looked for in bodies (they would match ordinary text)


# --- endpoints -----------------------------------------------------------------------------------------------


def new_signing_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(pysecrets.token_bytes(24)).decode()


def endpoint_url(endpoint: InboundEndpoint) -> str:
    return f"{settings.GATEWAY_URL.rstrip('/')}/hooks/{endpoint.token}/"


@transaction.atomic
def endpoint_create(
    *, tenant: Tenant, actor: Actor, user_id: int | None, name: str, connection: Connection | None, scheme: str
) -> tuple[InboundEndpoint, dict]:
    """Returns the endpoint and the secrets to show once (the Standard Webhooks signing secret, or Facebook's
    verify token)."""
    errors: dict[str, list[str]] = {}
    if scheme not in InboundEndpoint.Scheme.values:
        errors["scheme"] = [f"One of: {', '.join(InboundEndpoint.Scheme.values)}."]
    elif scheme == InboundEndpoint.Scheme.PROVIDER:
        if connection is None:
            errors["connection"] = ["A connection is required for the provider's own signature scheme."]
        elif not webhook_contract(connection).webhook_secret_fields:
            spec = registry.get(connection.provider)
            errors["scheme"] = [
                f"{spec.name if spec else 'This connector'} does not send webhooks; use standard_webhooks."
            ]
    if not name or not str(name).strip():
        errors["name"] = ["This field may not be blank."]
    if errors:
        raise ValidationError(errors)
    shown: dict[str, str] = {}
    if scheme == InboundEndpoint.Scheme.STANDARD:
        shown["signing_secret"] = new_signing_secret()
    else:
        kind, _, name_ = webhook_contract(connection).webhook_handshake_secret.partition(":")
        if kind == "endpoint":  # e.g. Facebook's verify token: ours, typed into the platform's dashboard
            shown[name_] = pysecrets.token_urlsafe(24)
    endpoint = InboundEndpoint.objects.create(
        name=str(name).strip()[:100],
        connection=connection,
        scheme=scheme,
        token=pysecrets.token_urlsafe(32),
        secrets=shown,
        created_by_id=user_id,
    )
    WebhookRoute.objects.create(token=endpoint.token, tenant=tenant, endpoint_id=endpoint.pk)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="inbound_endpoint.created",
        obj=endpoint,
        changes={"name": endpoint.name, "scheme": scheme, "connection": connection.pk if connection else None},
    )
    return endpoint, shown


@transaction.atomic
def endpoint_rotate_secret(*, tenant: Tenant, actor: Actor, endpoint: InboundEndpoint) -> dict:
    if "signing_secret" in endpoint.secrets:
        shown = {"signing_secret": new_signing_secret()}
    elif "verify_token" in endpoint.secrets:
        shown = {"verify_token": pysecrets.token_urlsafe(24)}
    else:
        raise ValidationError(
            {"scheme": ["This endpoint is verified with the connection's secret: change it on the connection."]}
        )
    endpoint.secrets = shown
    endpoint.save(update_fields=["secrets", "updated_at"])
    audit_record(tenant=tenant, actor=actor, action="inbound_endpoint.secret_rotated", obj=endpoint)
    return shown


@transaction.atomic
def endpoint_delete(*, tenant: Tenant, actor: Actor, endpoint: InboundEndpoint) -> None:
    forget_route(endpoint.token)
    WebhookRoute.objects.filter(tenant=tenant, endpoint_id=endpoint.pk).delete()
    audit_record(tenant=tenant, actor=actor, action="inbound_endpoint.deleted", obj=endpoint)
    endpoint.delete()


# --- receiving -----------------------------------------------------------------------------------------------

UNAVAILABLE_CONNECTOR = (
    "This endpoint's connector is not available on the platform right now, so the webhook could not be verified; "
    "nothing was stored. Send it again later."
)


@dataclass
class Outcome:
    status: int
    body: dict | str
    content_type: str = "application/json"


def _reject(endpoint: InboundEndpoint, label: str, reason: str) -> Outcome:
    """Counted on the endpoint and in metrics; the body is not stored."""
    InboundEndpoint.objects.filter(pk=endpoint.pk).update(
        rejected_count=F("rejected_count") + 1, last_rejected_at=timezone.now(), last_rejection=reason[:200]
    )
    WEBHOOKS.labels(label, "rejected").inc()
    logger.warning("webhook rejected", extra={"endpoint": endpoint.pk, "provider": label, "reason": reason})
    return Outcome(401, {"detail": f"Webhook verification failed: {reason}"})


def _label(endpoint: InboundEndpoint) -> str:
    if endpoint.scheme == InboundEndpoint.Scheme.STANDARD or endpoint.connection is None:
        return "standard_webhooks"
    return endpoint.connection.provider


def _connection_secret(connection: Connection, fields: tuple[str, ...]) -> str:
    credentials = connection.credentials or {}
    return next((str(credentials[name]) for name in fields if credentials.get(name)), "")


def webhook_contract(connection: Connection | None) -> type[Provider]:
    """The connector's class, which holds its webhook contract (the base one's without a connection or when its
    connector is gone)."""
    return (registry.get(connection.provider) if connection is not None else None) or Provider


def _handshake_secret(endpoint: InboundEndpoint) -> str:
    where = webhook_contract(endpoint.connection).webhook_handshake_secret
    kind, _, name = where.partition(":")
    if kind == "endpoint":
        return str(endpoint.secrets.get(name) or "")
    if kind == "connection" and endpoint.connection is not None:  # no connection: the base contract, no handshake
        return _connection_secret(endpoint.connection, (name,))
    return ""


def safe_headers(headers: dict[str, str], secret_values: list[str], *, keep_signatures: bool = False) -> dict[str, str]:
    """Headers worth keeping for debugging, without credentials, signatures (unless `keep_signatures`: the test
    receiver shows what a subscriber would verify) or anything equal to a secret."""
    words = SECRET_HEADER_WORDS if keep_signatures else SECRET_HEADER_WORDS + SIGNATURE_HEADER_WORDS
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if any(word in lower for word in words):
            continue
        if any(secret and secret in value for secret in secret_values):
            continue
        kept[lower] = value[:1000]
    return kept


def redact_secrets(body: bytes, payload, secret_values: list[str]):
    """The body and payload to store, with every occurrence of a secret replaced (Zoho CRM, for one, sends its
    notification channel token inside each body): whoever may read events must not learn how to forge them."""
    secrets = [secret for secret in secret_values if secret and len(secret) >= MIN_REDACTED_SECRET]
    if not secrets:
        return body, payload
    for secret in secrets:
        body = body.replace(secret.encode(), REDACTED.encode())
        encoded = json.dumps(secret)[1:-1].encode()  # as it appears inside a JSON string
        if encoded != secret.encode():
            body = body.replace(encoded, REDACTED.encode())

    def clean(value):
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return body, clean(payload)


def _verify_standard(endpoint: InboundEndpoint, headers: dict[str, str], body: bytes):
    secret = endpoint.secrets.get("signing_secret")
    if not secret:
        raise WebhookVerificationError("no signing secret is configured for this endpoint")
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except StandardVerificationError as exc:
        raise WebhookVerificationError(str(exc).lower() or "wrong signature") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("malformed webhook-signature header or body") from None
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
    lower = lowered(headers)
    raw_type = str(payload.get("type") or "") if isinstance(payload, dict) else ""
    data = payload.get("data", payload) if isinstance(payload, dict) and "type" in payload else payload
    return lower["webhook-id"], raw_type, data


EVENT_SEGMENT = re.compile(r"[^a-z0-9_]+")


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def normalise_type(connector: str, raw: str) -> str:
    """`<connector>.<object>.<verb>`, lower case: Shopify `orders/create` -> `shopify.order.create`, HubSpot
    `contact.creation` -> `hubspot.contact.creation`, Zoho `Leads.create` -> `zoho_crm.lead.create`."""
    raw = (raw or "").strip().lower()
    spec = registry.get(connector)
    raw = spec.webhook_event_aliases.get(raw, raw) if spec is not None else raw
    raw = raw.rsplit(":", 1)[-1]  # Zendesk namespaces its types: zen:event-type:ticket.created
    parts = [EVENT_SEGMENT.sub("_", part).strip("_") for part in re.split(r"[/.:]", raw)]
    parts = [part for part in parts if part]
    if parts and parts[0] == connector:
        parts = parts[1:]
    if not parts:
        parts = ["webhook", "received"]
    elif len(parts) == 1:
        parts = [parts[0], "event"]
    obj, verb = _singular(parts[0]), "_".join(parts[1:])
    return f"{connector}.{obj}.{verb}"[:200]


@dataclass
class EventsCount:
    """What a request has counted against its tenant's events per day. The gateway counts one event with the
    endpoint's request rate, in the same Redis round trip, before the body is read (`counted`, or that count's
    refusal: `refused`); webhook_accept() counts the rest of a batch once the body is verified, and whatever is
    not stored in the end (a rejection, a handshake, a duplicate, an error) is given back."""

    schema: str
    counted: int = 0
    refused: quotas.QuotaExceeded | None = None
    stored: int = 0

    def need(self, amount: int) -> None:
        """Makes the count `amount`, or raises QuotaExceeded counting nothing more."""
        if self.refused is not None:
            raise self.refused
        if amount > self.counted:
            quotas.consume(self.schema, "events_per_day", amount=amount - self.counted)
            self.counted = amount

    def settle(self) -> None:
        """Gives back what was counted beyond what was stored."""
        if self.counted > self.stored:
            quotas.release(self.schema, "events_per_day", amount=self.counted - self.stored)
            self.counted = self.stored


def webhook_accept(
    endpoint: InboundEndpoint,
    *,
    schema: str,
    method: str,
    url: str,
    headers: dict,
    query: dict,
    body: bytes,
    events: EventsCount | None = None,
) -> Outcome:
    """Everything after routing: handshake, verification, durable storage with dedup, hand-off to the worker.
    `events`: what the request has counted against events per day already (none by default)."""
    events = events or EventsCount(schema)
    try:
        return _accept(
            endpoint, schema=schema, method=method, url=url, headers=headers, query=query, body=body, events=events
        )
    finally:
        events.settle()


def _accept(
    endpoint: InboundEndpoint,
    *,
    schema: str,
    method: str,
    url: str,
    headers: dict,
    query: dict,
    body: bytes,
    events: EventsCount,
) -> Outcome:
    label = _label(endpoint)
    connection = endpoint.connection
    spec = registry.get(connection.provider) if connection is not None else None
    provider = spec() if spec else None

    if method in ("GET", "HEAD"):
        if endpoint.scheme != InboundEndpoint.Scheme.PROVIDER or provider is None:
            return Outcome(405, {"detail": "Webhooks are delivered with POST."})
        try:
            answer = provider.webhook_handshake(method=method, query=query, secret=_handshake_secret(endpoint))
        except WebhookVerificationError as exc:
            return _reject(endpoint, label, str(exc))
        if answer is None:
            return Outcome(405, {"detail": "Webhooks are delivered with POST."})
        WEBHOOKS.labels(label, "handshake").inc()
        return Outcome(200, answer, content_type="text/plain")

    ping = getattr(provider, "webhook_ping", None) if endpoint.scheme == InboundEndpoint.Scheme.PROVIDER else None
    if ping is not None and ping(headers=headers, body=body):  # e.g. WooCommerce's unsigned ping on saving
        WEBHOOKS.labels(label, "handshake").inc()
        return Outcome(200, {"status": "ping", "detail": "Ping received; nothing stored."})

    secret_values: list[str] = []
    try:
        if endpoint.scheme == InboundEndpoint.Scheme.STANDARD:
            secret_values = [endpoint.secrets.get("signing_secret", "")]
            external_id, raw_type, payload = _verify_standard(endpoint, headers, body)
            connector = connection.provider if connection is not None else "custom"
        else:
            if connection is None or provider is None:
                # a provider endpoint keeps its connection (required at creation, deleted with it): what is missing
                # is the connector, taken out of this deployment's code. Nothing can verify the request, so nothing
                # is stored; a 503 has the platform send it again, and the operator is told
                logger.error(
                    "inbound endpoint %s: its connector %r is not registered; webhook refused with 503",
                    endpoint.pk,
                    connection.provider if connection is not None else None,
                )
                WEBHOOKS.labels(label, "unavailable").inc()
                return Outcome(503, {"detail": UNAVAILABLE_CONNECTOR})
            secret = _connection_secret(connection, provider.webhook_secret_fields)
            secret_values = [secret]
            verified = provider.verify_webhook(
                method=method,
                url=url,
                headers=headers,
                body=body,
                secret=secret,
                **provider.webhook_verify_options(connection.config or {}),
            )
            external_id, raw_type, payload = verified.event_id, verified.event_type, verified.payload
            connector = connection.provider
    except WebhookVerificationError as exc:
        return _reject(endpoint, label, str(exc))

    body, payload = redact_secrets(body, payload, secret_values)
    items = split_batch(external_id, raw_type, payload)
    try:
        events.need(len(items))  # nothing of the batch is stored over it
    except quotas.QuotaExceeded:
        ids = {str(item_id)[:255] for item_id, _type, _payload in items}
        if Event.objects.filter(endpoint=endpoint, external_id__in=ids).count() < len(ids):
            raise
        InboundEndpoint.objects.filter(pk=endpoint.pk).update(duplicate_count=F("duplicate_count") + len(items))
        WEBHOOKS.labels(label, "duplicate").inc(len(items))
        return Outcome(200, {"status": "duplicate", "detail": "Already received; nothing done."})  # a repeat
    stored, duplicates = [], 0
    for index, (item_id, item_type, item_payload) in enumerate(items):
        try:
            with _insert_scope():
                stored.append(
                    Event.objects.create(
                        source=Event.Source.WEBHOOK,
                        endpoint=endpoint,
                        connection=connection,
                        provider=connector,
                        external_id=str(item_id)[:255],
                        type=normalise_type(connector, item_type),
                        raw_type=item_type[:200],
                        payload=item_payload if item_payload is not None else {},
                        body=body if index == 0 else b"",  # a batch keeps its raw body once
                        headers=safe_headers(headers, secret_values),
                    )
                )
        except IntegrityError:
            duplicates += 1
    events.stored = len(stored)  # the duplicates' count is given back
    if duplicates:
        InboundEndpoint.objects.filter(pk=endpoint.pk).update(duplicate_count=F("duplicate_count") + duplicates)
        WEBHOOKS.labels(label, "duplicate").inc(duplicates)
    if not stored:
        return Outcome(200, {"status": "duplicate", "detail": "Already received; nothing done."})
    WEBHOOKS.labels(label, "accepted").inc(len(stored))
    for event in stored:
        queueing.enqueue_event(schema, event.pk)
    first = stored[0]
    accepted: dict[str, Any] = {"status": "accepted", "event": str(first.uid), "type": first.type}
    if len(stored) + duplicates > 1:
        accepted.update(events=[str(event.uid) for event in stored], duplicates=duplicates)
    return Outcome(200, accepted)


def _insert_scope():
    """In autocommit (every real request) an INSERT is its own transaction and a duplicate's IntegrityError
    costs nothing; inside a transaction (tests, callers' blocks) a savepoint keeps it usable."""
    return transaction.atomic() if db.in_atomic_block else nullcontext()


def split_batch(external_id: str, raw_type: str, payload) -> list[tuple[str, str, object]]:
    """One delivery may carry several events (HubSpot sends up to 100 in a JSON array): each becomes an event
    of its own with its own id, so rules see one object at a time and each is deduplicated on its own."""
    if (
        isinstance(payload, list)
        and payload
        and all(
            isinstance(item, dict) and item.get("eventId") is not None and item.get("subscriptionType")
            for item in payload
        )
    ):
        return [(str(item["eventId"]), str(item["subscriptionType"]), item) for item in payload]
    return [(external_id, raw_type, payload)]


def register_quota_subjects() -> None:
    """The inbound webhook rate is kept per endpoint (apps.accounts.quotas shows the busiest one's)."""

    def endpoints(schema: str):
        return (str(pk) for pk in InboundEndpoint.objects.values_list("pk", flat=True))

    quotas.register_subjects("webhook_requests_per_second", endpoints)
