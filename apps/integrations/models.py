"""Integrations (tenant schema): inbound webhook endpoints and the events they accept, outbound subscriptions
and their deliveries, automation rules and their runs. Secrets are encrypted like connector credentials."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from apps.connectors.crypto import EncryptedJSONField
from apps.connectors.models import Connection


class InboundEndpoint(models.Model):
    """A URL a platform posts webhooks to: `/hooks/<token>/` on the public domain."""

    class Scheme(models.TextChoices):
        PROVIDER = "provider"  # the connection's platform's own signature scheme
        STANDARD = "standard_webhooks"  # Standard Webhooks (webhook-id / -timestamp / -signature)

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="inbound_endpoints"
    )
    name = models.CharField(max_length=100)
    scheme = models.CharField(max_length=20, choices=Scheme.choices)
    token = models.CharField(max_length=64, unique=True)
    secrets = EncryptedJSONField(default=dict, blank=True)  # signing_secret (Standard Webhooks) / verify_token
    enabled = models.BooleanField(default=True)
    duplicate_count = models.PositiveBigIntegerField(default=0)
    rejected_count = models.PositiveBigIntegerField(default=0)
    last_rejected_at = models.DateTimeField(null=True, blank=True)
    last_rejection = models.CharField(max_length=200, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """Something that happened: accepted from a webhook, posted through the API, or raised by the platform.
    Stored before it is answered; fanned out to subscriptions and rules by a worker."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        API = "api"
        SYSTEM = "system"

    class Status(models.TextChoices):
        PENDING = "pending"  # stored; fan-out not done yet (queued, or waiting for the sweeper)
        PROCESSED = "processed"
        FAILED = "failed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    endpoint = models.ForeignKey(
        InboundEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    connection = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    provider = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=255, blank=True)  # provider event id or idempotency key
    type = models.CharField(max_length=200, db_index=True)  # normalised `<connector>.<object>.<verb>`
    raw_type = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(default=b"", blank=True)
    headers = models.JSONField(default=dict, blank=True)  # as received, minus anything secret
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "external_id"], condition=Q(endpoint__isnull=False), name="uniq_event_per_endpoint"
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(endpoint__isnull=True) & ~Q(external_id=""),
                name="uniq_event_per_source",
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="event_status_received")]

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"


class Subscription(models.Model):
    """An outbound webhook endpoint of the tenant's: matching events are POSTed, signed (Standard Webhooks)."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=300, blank=True)
    event_types = models.JSONField(default=list)  # patterns, e.g. ["shopify.order.*", "hubspot.contact.created"]
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="subscriptions"
    )  # only events from this connection, when set
    secrets = EncryptedJSONField(default=dict, blank=True)  # current, previous, previous_expires_at
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url", "id"]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One event to one subscription, retried on a schedule; each try is a DeliveryAttempt."""

    class Status(models.TextChoices):
        PENDING = "pending"  # due at next_attempt_at
        SENDING = "sending"  # claimed by a worker
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # retries exhausted, endpoint gone or disabled

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "subscription"], name="uniq_delivery")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"

    @property
    def msg_id(self) -> str:
        """The Standard Webhooks `webhook-id`: the same on every retry and replay, so receivers can dedupe."""
        return f"msg_{self.event.uid.hex}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, default="scheduled")  # scheduled | replay
    status_code = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class Rule(models.Model):
    """When an event of `trigger_event` (optionally from one connection) meets the conditions, run the actions
    in order. Conditions and actions are data (checked when saved), never code."""

    class Match(models.TextChoices):
        ALL = "all"
        ANY = "any"

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    trigger_event = models.CharField(max_length=200)
    trigger_connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="triggered_rules"
    )  # a rule whose connection is deleted is disabled first (signals.py), never widened to every connection
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    durable = models.BooleanField(default=False)  # actions run as a Temporal workflow (`rule_actions`)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """One evaluation of a rule against one event (at most one: a redelivered event is not evaluated again)."""

    class Status(models.TextChoices):
        NO_MATCH = "no_match"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="rule_runs")
    matched = models.BooleanField()
    condition_results = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.CharField(max_length=500, blank=True)
    workflow_id = models.CharField(max_length=255, blank=True)  # set when a durable rule's workflow drives it
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "event"], name="uniq_rule_run")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on event {self.event_id}: {self.status}"


class ActionRun(models.Model):
    """One action of a matched rule. `idempotency_key` is unique: the action is performed at most once."""

    class Status(models.TextChoices):
        WAITING = "waiting"  # an earlier action has not finished
        PENDING = "pending"  # due at next_attempt_at
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"  # an earlier action failed

    rule_run = models.ForeignKey(RuleRun, on_delete=models.CASCADE, related_name="action_runs")
    position = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=80, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    definition = models.JSONField(default=dict)  # the action as the rule said when it matched
    input = models.JSONField(default=dict, blank=True)  # what it was given (event data only, no secrets)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["rule_run", "position"]
        constraints = [models.UniqueConstraint(fields=["rule_run", "position"], name="uniq_action_position")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="action_due")]

    def __str__(self) -> str:
        return f"action {self.position} of rule run {self.rule_run_id}: {self.status}"


class ReceivedRequest(models.Model):
    """A request the workspace's built-in test receiver (apps.integrations.receiver) took, with the verdict on its
    Standard Webhooks signature. Only the newest TEST_RECEIVER_KEEP are kept, each body cut at
    TEST_RECEIVER_MAX_BODY_BYTES: the receiver is a window onto the last few deliveries, never a store."""

    class Verdict(models.TextChoices):
        VERIFIED = "verified", "Signature verified"  # signed by one of this workspace's subscriptions to the receiver
        INVALID = "invalid_signature", "Wrong signature"  # signed, but by no secret of a subscription to the receiver
        STALE = "stale_timestamp", "Stale timestamp"  # webhook-timestamp more than 5 minutes away from now
        UNSIGNED = "unsigned", "Not signed"  # a webhook-id, -timestamp or -signature header is missing

    received_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=10)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    body_bytes = models.PositiveIntegerField(default=0)  # the whole body's size, kept or not
    truncated = models.BooleanField(default=False)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    detail = models.CharField(max_length=300, blank=True)
    webhook_id = models.CharField(max_length=100, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )  # whose secret verified it (at most TEST_RECEIVER_KEEP rows: no index worth its relation)
    status_code = models.PositiveSmallIntegerField()  # what the receiver answered

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"test receiver request {self.pk}: {self.verdict}"
