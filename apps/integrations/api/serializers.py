import base64
import json
from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.permissions import CONFIGURE, may
from apps.integrations.inbound import SIGNATURE_HEADER_WORDS, endpoint_url, webhook_contract
from apps.integrations.models import (
    ActionRun,
    Delivery,
    DeliveryAttempt,
    Event,
    InboundEndpoint,
    ReceivedRequest,
    Rule,
    RuleRun,
    Subscription,
)


def _configures_webhooks(serializer: serializers.Serializer) -> bool:
    """Capability URLs (an endpoint's routing token, a subscriber's URL) let whoever holds them act: they are shown
    whole only to those who may configure webhooks (admins, keys with webhooks:write); others see where, not how."""
    context = serializer.context
    if "_configures_webhooks" not in context:
        context["_configures_webhooks"] = may(context.get("request"), "webhooks", CONFIGURE)  # type: ignore[index]
    return context["_configures_webhooks"]


def masked_url(url: str) -> str:
    """The scheme and host of a URL, without its path, query or user info: `https://hooks.example.com/…`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if host else "…"


def without_signatures(headers: dict) -> dict:
    """Stored headers minus signature headers (a body-only signature plus the body could be re-posted)."""
    return {
        name: value
        for name, value in (headers or {}).items()
        if not any(word in name.lower() for word in SIGNATURE_HEADER_WORDS)
    }


class EndpointSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Where the platform posts. Its routing token lets anyone post, so only admins see it whole; "
        "others get the address with the token hidden (url_masked)."
    )
    url_masked = serializers.SerializerMethodField()
    connection_name = serializers.CharField(source="connection.name", default=None, read_only=True, allow_null=True)
    provider = serializers.CharField(source="connection.provider", default=None, read_only=True, allow_null=True)
    secret_set = serializers.SerializerMethodField(help_text="Whether an own secret is set; never returned.")
    setup = serializers.SerializerMethodField()
    received_count = serializers.IntegerField(read_only=True, default=0)
    last_event_at = serializers.DateTimeField(read_only=True, default=None, allow_null=True)

    class Meta:
        model = InboundEndpoint
        fields = [
            "id",
            "name",
            "url",
            "url_masked",
            "connection",
            "connection_name",
            "provider",
            "scheme",
            "enabled",
            "secret_set",
            "setup",
            "received_count",
            "duplicate_count",
            "rejected_count",
            "last_event_at",
            "last_rejected_at",
            "last_rejection",
            "created_at",
        ]
        read_only_fields = fields

    def get_url(self, endpoint) -> str:
        if _configures_webhooks(self):
            return endpoint_url(endpoint)
        return f"{settings.GATEWAY_URL.rstrip('/')}/hooks/…/"

    def get_url_masked(self, endpoint) -> bool:
        return not _configures_webhooks(self)

    def get_secret_set(self, endpoint) -> bool:
        return bool(endpoint.secrets)

    def get_setup(self, endpoint) -> str:
        if endpoint.scheme == InboundEndpoint.Scheme.STANDARD:
            return "Sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) using the secret."
        return webhook_contract(endpoint.connection).webhook_setup


class EndpointCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    connection = serializers.IntegerField(required=False, allow_null=True)
    scheme = serializers.ChoiceField(choices=InboundEndpoint.Scheme.choices, default=InboundEndpoint.Scheme.PROVIDER)


class EndpointUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    enabled = serializers.BooleanField(required=False)


class SubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="The subscriber's URL (often a capability URL): whole for admins, scheme and host for others."
    )
    url_masked = serializers.SerializerMethodField()
    secret_rotation_ends_at = serializers.SerializerMethodField()
    test_receiver = serializers.SerializerMethodField(help_text="Whether it points at the built-in test receiver.")

    class Meta:
        model = Subscription
        fields = [
            "id",
            "url",
            "url_masked",
            "description",
            "event_types",
            "connection",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "consecutive_failures",
            "last_success_at",
            "last_failure_at",
            "secret_rotation_ends_at",
            "test_receiver",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_url(self, subscription) -> str:
        return subscription.url if _configures_webhooks(self) else masked_url(subscription.url)

    def get_url_masked(self, subscription) -> bool:
        return not _configures_webhooks(self)

    def get_test_receiver(self, subscription) -> bool:
        return subscription.url.startswith(settings.GATEWAY_URL.rstrip("/") + "/receiver/")

    def get_secret_rotation_ends_at(self, subscription) -> str | None:
        return subscription.secrets.get("previous_expires_at") if subscription.secrets.get("previous") else None


class SubscriptionWriteSerializer(serializers.Serializer):
    url = serializers.CharField(required=False, max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)
    event_types = serializers.JSONField(required=False)
    connection = serializers.IntegerField(required=False, allow_null=True)
    enabled = serializers.BooleanField(required=False)


class ReplaySerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay every failed delivery created at or after this time.")


class AttemptSerializer(serializers.ModelSerializer):
    """One attempt of a delivery: its status, timing and error, and for roles that may configure webhooks the
    start of the receiver's answer."""

    # whatever the receiver says is read back through the excerpt (a channel into wherever the URL points)
    response_excerpt = serializers.SerializerMethodField(
        help_text="The first characters of the receiver's answer; null unless your role may configure webhooks."
    )

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "trigger", "status_code", "latency_ms", "response_excerpt", "error", "attempted_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_response_excerpt(self, attempt: DeliveryAttempt) -> str | None:
        return attempt.response_excerpt if _configures_webhooks(self) else None


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)
    event_uid = serializers.UUIDField(source="event.uid", read_only=True)
    msg_id = serializers.CharField(read_only=True)
    url = serializers.SerializerMethodField(help_text="The subscription's URL: whole for admins, host for others.")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "msg_id",
            "event",
            "event_uid",
            "event_type",
            "subscription",
            "url",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "succeeded_at",
        ]
        read_only_fields = fields

    def get_url(self, delivery) -> str:
        url = delivery.subscription.url
        return url if _configures_webhooks(self) else masked_url(url)


class DeliveryDetailSerializer(DeliverySerializer):
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempt_log"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "uid",
            "type",
            "raw_type",
            "source",
            "provider",
            "connection",
            "endpoint",
            "external_id",
            "status",
            "attempts",
            "error",
            "received_at",
            "processed_at",
        ]
        read_only_fields = fields


class EventDetailSerializer(EventSerializer):
    body_base64 = serializers.SerializerMethodField(help_text="The raw body as received (base64).")
    headers = serializers.SerializerMethodField(help_text="Headers as received, without credentials or signatures.")

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "payload", "headers", "body_base64"]
        read_only_fields = fields

    def get_body_base64(self, event) -> str:
        return base64.b64encode(bytes(event.body or b"")).decode()

    def get_headers(self, event) -> dict[str, str]:
        return without_signatures(event.headers)


class EventCreateSerializer(serializers.Serializer):
    type = serializers.RegexField(r"^[a-z0-9_]+(\.[a-z0-9_]+){1,4}$", max_length=200)
    payload = serializers.JSONField()
    connection = serializers.IntegerField(required=False, allow_null=True)
    idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate_payload(self, value):
        if value is None:  # a form's payload=null is parsed after DRF's own null check
            raise serializers.ValidationError("This field may not be null.")
        return value


class RuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "enabled",
            "disabled_reason",
            "trigger_event",
            "trigger_connection",
            "match",
            "durable",
            "conditions",
            "actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleConditionSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="A dotted path into the event, e.g. `payload.order.total`.")
    op = serializers.ChoiceField(choices=["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists", "matches"])
    value = serializers.JSONField(
        required=False, help_text="Not for `exists`; a list for `in`; an RE2 pattern for `matches`."
    )


class RuleWriteSerializer(serializers.Serializer):
    """The body of POST /rules/ and PATCH /rules/{id}/ (checked by `rules.clean_rule`: errors keyed by path,
    e.g. `conditions.0.op`, `actions.1.input.email`)."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False, help_text="Default true.")
    trigger_event = serializers.CharField(help_text="An event type pattern; `*` matches one or more segments.")
    trigger_connection = serializers.IntegerField(required=False, allow_null=True)
    match = serializers.ChoiceField(choices=["all", "any"], required=False, help_text="Default all.")
    durable = serializers.BooleanField(required=False, help_text="Default false.")
    conditions = RuleConditionSerializer(many=True, required=False)
    actions = serializers.ListField(
        child=serializers.DictField(),
        help_text="In order: `{type, ...}` with the fields of the action type (`GET /rules/action-types/`), e.g. "
        "`{type: connector_action, connection, action, input}`; `{path}` strings in `input` come from the event.",
    )


class ActionTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]


class RuleTestSerializer(serializers.Serializer):
    event = serializers.JSONField(help_text="{type, payload, connection_id?}")


class ActionRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActionRun
        fields = [
            "position",
            "type",
            "status",
            "attempts",
            "idempotency_key",
            "input",
            "result",
            "error",
            "next_attempt_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RuleRunSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = RuleRun
        fields = [
            "id",
            "rule",
            "rule_name",
            "event",
            "event_type",
            "matched",
            "status",
            "error",
            "workflow_id",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class RuleRunDetailSerializer(RuleRunSerializer):
    action_runs = ActionRunSerializer(many=True, read_only=True)

    class Meta(RuleRunSerializer.Meta):
        fields = [*RuleRunSerializer.Meta.fields, "condition_results", "action_runs"]
        read_only_fields = fields


class SendTestSerializer(serializers.Serializer):
    type = serializers.RegexField(
        r"^[a-z0-9_]+(\.[a-z0-9_]+){1,4}$",
        max_length=100,
        required=False,
        help_text="The event type the sender puts in the body, e.g. order.created (default test.ping).",
    )
    payload = serializers.JSONField(required=False, help_text="The event's data (a JSON object; default a sample).")

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('A JSON object, e.g. {"total": 120}.')
        if len(json.dumps(value)) > 16 * 1024:
            raise serializers.ValidationError("At most 16 KB of JSON.")
        return value


class SentTestSerializer(serializers.Serializer):
    status_code = serializers.IntegerField(help_text="What the gateway answered the signed request.")
    response = serializers.JSONField()
    event = serializers.UUIDField(allow_null=True, help_text="The stored event, when it was accepted.")
    type = serializers.CharField(allow_blank=True, help_text="Its normalised type.")


class ReceivedRequestSerializer(serializers.ModelSerializer):
    verdict_label = serializers.CharField(source="get_verdict_display", read_only=True)

    class Meta:
        model = ReceivedRequest
        fields = [
            "id",
            "received_at",
            "method",
            "verdict",
            "verdict_label",
            "detail",
            "status_code",
            "webhook_id",
            "event_type",
            "subscription",
            "headers",
            "body",
            "body_bytes",
            "truncated",
        ]
        read_only_fields = fields


class TestReceiverSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Point a subscription here; only this workspace's deliveries verify.")
    keep = serializers.IntegerField(help_text="How many of the newest requests are kept.")
    max_body_bytes = serializers.IntegerField(help_text="How much of each body is kept.")
    requests_per_minute = serializers.IntegerField()
    subscriptions = serializers.ListField(child=serializers.IntegerField(), help_text="Subscriptions pointing here.")
    requests = ReceivedRequestSerializer(many=True)
