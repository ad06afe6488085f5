from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Max, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import CONFIGURE, READ, USE, may
from apps.connectors.models import Connection
from apps.integrations import inbound, outbound, queueing, receiver, rules, samples, selectors
from apps.integrations.api import serializers as s
from apps.integrations.expressions import check_type_pattern
from apps.integrations.models import Delivery, Event, InboundEndpoint, Rule, RuleRun, Subscription
from bizosaas.filters import choice_filter, int_filters, time_filters
from bizosaas.views import TenantScoped


def _connection_or_error(value, field: str = "connection") -> Connection | None:
    if value is None:
        return None
    connection = Connection.objects.filter(pk=value).first()
    if connection is None:
        raise ValidationError({field: ["No such connection in this tenant."]})
    return connection


def type_filter(pattern: str) -> Q:
    """An event type pattern (`shopify.order.*`) as a query."""
    problem = check_type_pattern(pattern)
    if problem:
        raise ValidationError({"type": [problem]})
    if "*" not in pattern:
        return Q(type=pattern)
    if pattern == "*":
        return Q()
    segments = pattern.split(".")
    parts = ["[^.]+" if seg == "*" else re.escape(seg) for seg in segments[:-1]]
    last = ".+" if segments[-1] == "*" else re.escape(segments[-1])
    return Q(type__regex="^" + r"\.".join([*parts, last]) + "$")


# --- inbound endpoints ---------------------------------------------------------------------------------------


@extend_schema(tags=["webhooks"])
class EndpointViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Inbound webhook endpoints: where platforms post events. Secrets are shown once, at creation or rotation."""

    resource = "webhooks"
    serializer_class = s.EndpointSerializer
    action_permissions = {"rotate_secret": CONFIGURE, "send_test": CONFIGURE}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return InboundEndpoint.objects.none()
        queryset = InboundEndpoint.objects.select_related("connection").annotate(
            received_count=Count("events"), last_event_at=Max("events__received_at")
        )
        return int_filters(self.request.query_params, queryset, {"connection": "connection_id"})

    @extend_schema(request=s.EndpointCreateSerializer, responses={201: s.EndpointSerializer})
    def create(self, request):
        data = s.EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = _connection_or_error(data.validated_data.get("connection"))
        endpoint, shown = inbound.endpoint_create(
            tenant=self.tenant,
            actor=self.actor,
            user_id=getattr(request.user, "pk", None),
            name=data.validated_data["name"],
            connection=connection,
            scheme=data.validated_data["scheme"],
        )
        body = s.EndpointSerializer(self.get_queryset().get(pk=endpoint.pk), context=self.get_serializer_context()).data
        return Response({**body, **shown}, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.EndpointUpdateSerializer, responses={200: s.EndpointSerializer})
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = s.EndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        for name, value in data.validated_data.items():
            setattr(endpoint, name, value)
        endpoint.save()
        return Response(
            s.EndpointSerializer(self.get_queryset().get(pk=endpoint.pk), context=self.get_serializer_context()).data
        )

    def destroy(self, request, pk=None):
        inbound.endpoint_delete(tenant=self.tenant, actor=self.actor, endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        shown = inbound.endpoint_rotate_secret(tenant=self.tenant, actor=self.actor, endpoint=self.get_object())
        return Response(shown)

    @extend_schema(request=s.SendTestSerializer, responses={200: s.SentTestSerializer})
    @action(detail=True, methods=["post"], url_path="send-test")
    def send_test(self, request, pk=None):
        """Sends a Standard Webhooks request signed with the endpoint's secret through the gateway's webhook URL,
        as the platform would; the answer is the gateway's (200 accepted, 401 refused, 429 over the rate)."""
        data = s.SendTestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sent = samples.endpoint_send_test(
                tenant=self.tenant,
                actor=self.actor,
                endpoint=self.get_object(),
                event_type=data.validated_data.get("type"),
                payload=data.validated_data.get("payload"),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(s.SentTestSerializer(sent).data)


# --- subscriptions and deliveries ----------------------------------------------------------------------------


@extend_schema(tags=["webhooks"])
class SubscriptionViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Outbound webhooks. The signing secret (`whsec_…`) is returned once, at creation or rotation."""

    resource = "webhooks"
    serializer_class = s.SubscriptionSerializer
    action_permissions = {"rotate_secret": CONFIGURE, "replay": CONFIGURE, "send_test": CONFIGURE}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Subscription.objects.none()
        return Subscription.objects.all()

    @extend_schema(request=s.SubscriptionWriteSerializer, responses={201: s.SubscriptionSerializer})
    def create(self, request):
        data = s.SubscriptionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        subscription, secret = outbound.subscription_create(
            tenant=self.tenant,
            actor=self.actor,
            user_id=getattr(request.user, "pk", None),
            url=values.get("url"),
            event_types=values.get("event_types"),
            description=values.get("description", ""),
            connection=_connection_or_error(values.get("connection")),
            enabled=values.get("enabled", True),
        )
        return Response(
            {**s.SubscriptionSerializer(subscription, context=self.get_serializer_context()).data, "secret": secret},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.SubscriptionWriteSerializer, responses={200: s.SubscriptionSerializer})
    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        data = s.SubscriptionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "connection" in values:
            values["connection"] = _connection_or_error(values["connection"])
        subscription = outbound.subscription_update(
            tenant=self.tenant, actor=self.actor, subscription=subscription, data=values
        )
        return Response(s.SubscriptionSerializer(subscription, context=self.get_serializer_context()).data)

    def destroy(self, request, pk=None):
        outbound.subscription_delete(tenant=self.tenant, actor=self.actor, subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        secret = outbound.subscription_rotate_secret(tenant=self.tenant, actor=self.actor, subscription=subscription)
        subscription.refresh_from_db()
        return Response({"secret": secret, "previous_secret_valid_until": subscription.secrets["previous_expires_at"]})

    @extend_schema(request=s.ReplaySerializer, responses={202: dict})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Sends again every failed delivery created since the given time."""
        data = s.ReplaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = outbound.subscription_replay_failed(self.get_object(), since=data.validated_data["since"])
        return Response({"replayed": count}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"], url_path="send-test")
    def send_test(self, request, pk=None):
        """Delivers a synthetic `bizosaas.subscription.test` event to this subscription only."""
        try:
            delivery = samples.subscription_send_test(
                tenant=self.tenant, actor=self.actor, subscription=self.get_object()
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(
            s.DeliverySerializer(delivery, context=self.get_serializer_context()).data, status=status.HTTP_202_ACCEPTED
        )


@extend_schema(
    tags=["webhooks"],
    parameters=[
        OpenApiParameter("subscription", int),
        OpenApiParameter("event", int),
        OpenApiParameter("status", str, enum=Delivery.Status.values),
        OpenApiParameter("since", str, description="ISO 8601 date-time"),
        OpenApiParameter("until", str, description="ISO 8601 date-time"),
    ],
)
class DeliveryViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "webhooks"
    action_permissions = {"replay": CONFIGURE}

    def get_serializer_class(self):
        return s.DeliveryDetailSerializer if self.action == "retrieve" else s.DeliverySerializer

    def get_queryset(self):
        if self.schema_generation():
            return Delivery.objects.none()
        params = self.request.query_params
        queryset = Delivery.objects.select_related("event", "subscription")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("attempt_log")
        queryset = int_filters(params, queryset, {"subscription": "subscription_id", "event": "event_id"})
        queryset = choice_filter(params, queryset, "status", Delivery.Status.values)
        return time_filters(params, queryset, "created_at")

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = outbound.delivery_replay(self.get_object())
        return Response(
            s.DeliverySerializer(delivery, context=self.get_serializer_context()).data, status=status.HTTP_202_ACCEPTED
        )


# --- events --------------------------------------------------------------------------------------------------


@extend_schema(
    tags=["events"],
    parameters=[
        OpenApiParameter("type", str, description="exact type or pattern, e.g. shopify.order.*"),
        OpenApiParameter("status", str, enum=Event.Status.values),
        OpenApiParameter("source", str, enum=Event.Source.values),
        OpenApiParameter("connection", int),
        OpenApiParameter("endpoint", int),
        OpenApiParameter("since", str, description="ISO 8601 date-time"),
        OpenApiParameter("until", str, description="ISO 8601 date-time"),
    ],
)
class EventViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Events received by webhooks, posted by API clients (`events:write`) or raised by the platform."""

    resource = "events"
    action_permissions = {"create": USE}
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        return s.EventDetailSerializer if self.action == "retrieve" else s.EventSerializer

    def get_queryset(self):
        if self.schema_generation():
            return Event.objects.none()
        params = self.request.query_params
        queryset = Event.objects.defer("body", "headers") if self.action == "list" else Event.objects.all()
        if params.get("type"):
            queryset = queryset.filter(type_filter(params["type"]))
        queryset = choice_filter(params, queryset, "status", Event.Status.values)
        queryset = choice_filter(params, queryset, "source", Event.Source.values)
        queryset = int_filters(params, queryset, {"connection": "connection_id", "endpoint": "endpoint_id"})
        return time_filters(params, queryset, "received_at")

    @extend_schema(request=s.EventCreateSerializer, responses={202: s.EventSerializer, 200: s.EventSerializer})
    def create(self, request):
        """Posts an event into the hub: subscriptions and rules see it like a webhook's. An idempotency key
        makes retries safe (the same key answers 200 with the first event)."""
        data = s.EventCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        key = values.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
        if key:
            existing = Event.objects.filter(source=Event.Source.API, endpoint__isnull=True, external_id=key).first()
            if existing:
                return Response(s.EventSerializer(existing).data, status=status.HTTP_200_OK)
        event = queueing.event_emit(
            values["type"],
            values["payload"],
            connection=_connection_or_error(values.get("connection")),
            source=Event.Source.API,
            external_id=key[:255],
        )
        return Response(s.EventSerializer(event).data, status=status.HTTP_202_ACCEPTED)


# --- rules ---------------------------------------------------------------------------------------------------


@extend_schema(tags=["rules"])
class RuleViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Automation rules. Conditions: field + op (eq, ne, gt, gte, lt, lte, contains, in, exists, matches) +
    value. Actions: connector_action {connection, action, input: {field: {path}|{value}}} and
    send_to_subscription {subscription}."""

    resource = "rules"
    serializer_class = s.RuleSerializer
    action_permissions = {"test": USE, "action_types": READ}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.schema_generation():
            return Rule.objects.none()
        return int_filters(self.request.query_params, Rule.objects.all(), {"connection": "trigger_connection_id"})

    def _data(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        return dict(self.request.data)

    @extend_schema(request=s.RuleWriteSerializer, responses={201: s.RuleSerializer})
    def create(self, request):
        rule = rules.rule_create(
            tenant=self.tenant, actor=self.actor, user_id=getattr(request.user, "pk", None), data=self._data()
        )
        return Response(s.RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RuleWriteSerializer, responses={200: s.RuleSerializer})
    def partial_update(self, request, pk=None):
        rule = rules.rule_update(tenant=self.tenant, actor=self.actor, rule=self.get_object(), data=self._data())
        return Response(s.RuleSerializer(rule).data)

    def destroy(self, request, pk=None):
        rules.rule_delete(tenant=self.tenant, actor=self.actor, rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.RuleTestSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Evaluates the rule against a sample event and says what would happen; performs nothing."""
        data = s.RuleTestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            return Response(rules.rule_test(self.get_object(), data.validated_data["event"]))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None

    @extend_schema(responses={200: s.ActionTypeSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="action-types", pagination_class=None)
    def action_types(self, request):
        return Response(
            [{"type": t.name, "label": t.label, "fields": list(t.fields)} for t in rules.ACTION_TYPES.values()]
        )


@extend_schema(
    tags=["rules"],
    parameters=[
        OpenApiParameter("rule", int),
        OpenApiParameter("event", int),
        OpenApiParameter("status", str, enum=RuleRun.Status.values),
        OpenApiParameter("matched", bool),
        OpenApiParameter("since", str, description="ISO 8601 date-time"),
        OpenApiParameter("until", str, description="ISO 8601 date-time"),
    ],
)
class RuleRunViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    resource = "rules"

    def get_serializer_class(self):
        return s.RuleRunDetailSerializer if self.action == "retrieve" else s.RuleRunSerializer

    def get_queryset(self):
        if self.schema_generation():
            return RuleRun.objects.none()
        params = self.request.query_params
        queryset = RuleRun.objects.select_related("rule", "event").prefetch_related("action_runs")
        queryset = int_filters(params, queryset, {"rule": "rule_id", "event": "event_id"})
        queryset = choice_filter(params, queryset, "status", RuleRun.Status.values)
        if params.get("matched") in ("true", "false"):
            queryset = queryset.filter(matched=params["matched"] == "true")
        return time_filters(params, queryset, "created_at")


# --- the test receiver ---------------------------------------------------------------------------------------


@extend_schema(tags=["webhooks"])
class TestReceiverView(TenantScoped, APIView):
    """The workspace's built-in test receiver: its URL and the newest requests it took, each with the verdict on
    its Standard Webhooks signature. DELETE forgets them."""

    resource = "webhooks"
    action_permissions = {"destroy": CONFIGURE}

    @property
    def action(self) -> str:
        return "destroy" if self.request.method == "DELETE" else "retrieve"

    @extend_schema(responses={200: s.TestReceiverSerializer}, operation_id="test_receiver_retrieve")
    def get(self, request):
        body = {
            "url": receiver.receiver_url(self.tenant),
            "keep": settings.TEST_RECEIVER_KEEP,
            "max_body_bytes": settings.TEST_RECEIVER_MAX_BODY_BYTES,
            "requests_per_minute": settings.TEST_RECEIVER_REQUESTS_PER_MINUTE,
            "subscriptions": [sub.pk for sub in receiver.receiver_subscriptions(self.tenant)],
            "requests": receiver.received_list(),
        }
        return Response(s.TestReceiverSerializer(body).data)

    @extend_schema(responses={204: None}, operation_id="test_receiver_clear")
    def delete(self, request):
        receiver.received_clear(tenant=self.tenant, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- overview ------------------------------------------------------------------------------------------------


@extend_schema(tags=["integrations"], responses={200: dict})
class OverviewView(TenantScoped, APIView):
    """Per connection: its inbound endpoints (URL, last event, counts), and the subscriptions and rules that
    reference it, with their status. Items that reference no connection are listed under `unlinked`."""

    resource = "webhooks"

    def get(self, request):
        overview = selectors.wiring_overview()
        shows_urls = may(request, "webhooks", CONFIGURE)

        def subscription_row(sub):
            return {
                "id": sub.id,
                "url": sub.url if shows_urls else s.masked_url(sub.url),
                "event_types": sub.event_types,
                "status": "active" if sub.enabled else "disabled",
                "disabled_reason": sub.disabled_reason,
                "failed_deliveries": overview.failed_deliveries.get(sub.id, 0),
                "last_success_at": sub.last_success_at,
            }

        def rule_row(rule):
            return {
                "id": rule.id,
                "name": rule.name,
                "trigger_event": rule.trigger_event,
                "status": "active" if rule.enabled else "disabled",
                "last_run_at": overview.last_rule_runs.get(rule.id),
            }

        def rows(wiring):
            return {
                "endpoints": s.EndpointSerializer(wiring.endpoints, many=True, context={"request": request}).data,
                "subscriptions": [subscription_row(x) for x in wiring.subscriptions],
                "rules": [rule_row(r) for r in wiring.rules],
            }

        connections = [
            {"connection": {f: getattr(w.connection, f) for f in ("id", "name", "provider", "status")}, **rows(w)}
            for w in overview.connections
        ]
        return Response({"connections": connections, "unlinked": rows(overview.unlinked)})
