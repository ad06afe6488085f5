"""GET /api/v1/overview/: what the portal's dashboard shows for the caller's tenant — the health of its connections
and, over a window of 1 to 30 days, events, webhook deliveries, agent runs and workflow runs per hour or per day.

Every figure is counted in SQL on indexed timestamps (one grouped query per series); buckets are UTC and
zero-filled so that charts need no gaps handled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents.models import AgentRun
from apps.connectors.models import Connection
from apps.integrations.models import Delivery, Event
from apps.workflows.models import WorkflowRun
from bizosaas.views import TenantScoped

EVENT_STATUSES = [s.value for s in Event.Status]
DELIVERY_OUTCOMES = ["delivered", "failed", "pending"]
DELIVERY_OUTCOME = {
    Delivery.Status.SUCCEEDED: "delivered",
    Delivery.Status.FAILED: "failed",
    Delivery.Status.PENDING: "pending",
    Delivery.Status.SENDING: "pending",  # claimed by a worker, not settled yet
}
AGENT_STATUSES = [s.value for s in AgentRun.Status]
WORKFLOW_STATUSES = [s.value for s in WorkflowRun.Status]
CONNECTION_STATUSES = [s.value for s in Connection.Status]


# --- schema of the answer (also what the portal's typed client knows) ------------------------------------------


def _counts(name: str, fields: list[str], *, extra: dict | None = None) -> type[serializers.Serializer]:
    attrs = {field: serializers.IntegerField() for field in fields}
    return type(name, (serializers.Serializer,), {**attrs, **(extra or {})})


def _point(name: str, fields: list[str], *, extra: dict | None = None) -> type[serializers.Serializer]:
    attrs = {"t": serializers.DateTimeField(help_text="Start of the bucket (UTC).")}
    return _counts(name, fields, extra={**attrs, **(extra or {})})


class OverviewQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=30, default=7, help_text="Window in days: 1 buckets by hour, more by day."
    )


class OverviewConnectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.ChoiceField(choices=CONNECTION_STATUSES)
    last_checked_at = serializers.DateTimeField(allow_null=True)
    last_latency_ms = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)


class OverviewConnectionsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = _counts("OverviewConnectionStatus", CONNECTION_STATUSES)()
    items = OverviewConnectionSerializer(many=True)


class OverviewWindowSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    bucket = serializers.CharField(help_text="hour (a window of 1 day) or day.")
    since = serializers.DateTimeField(help_text="Start of the first bucket (UTC), inclusive.")
    until = serializers.DateTimeField(help_text="End of the last bucket (UTC), exclusive.")


_tokens = {"tokens": serializers.IntegerField(help_text="Prompt and completion tokens of the runs.")}
EventPoint = _point("OverviewEventPoint", EVENT_STATUSES)
DeliveryPoint = _point("OverviewDeliveryPoint", DELIVERY_OUTCOMES)
AgentRunPoint = _point("OverviewAgentRunPoint", AGENT_STATUSES, extra=_tokens)
WorkflowRunPoint = _point("OverviewWorkflowRunPoint", WORKFLOW_STATUSES)
_total = {"total": serializers.IntegerField()}


class OverviewSeriesSerializer(serializers.Serializer):
    events = EventPoint(many=True, help_text="Events received, by status.")
    deliveries = DeliveryPoint(many=True, help_text="Outbound webhook deliveries, by outcome.")
    agent_runs = AgentRunPoint(many=True, help_text="Agent runs, by status.")
    workflow_runs = WorkflowRunPoint(many=True, help_text="Workflow runs, by status.")


class OverviewTotalsSerializer(serializers.Serializer):
    events = _counts("OverviewEventTotals", EVENT_STATUSES, extra=_total)()
    deliveries = _counts("OverviewDeliveryTotals", DELIVERY_OUTCOMES, extra=_total)()
    agent_runs = _counts("OverviewAgentRunTotals", AGENT_STATUSES, extra={**_total, **_tokens})()
    workflow_runs = _counts("OverviewWorkflowRunTotals", WORKFLOW_STATUSES, extra=_total)()


class OverviewSerializer(serializers.Serializer):
    window = OverviewWindowSerializer()
    connections = OverviewConnectionsSerializer()
    series = OverviewSeriesSerializer()
    totals = OverviewTotalsSerializer(help_text="Sums over the window.")


# --- computation -----------------------------------------------------------------------------------------------


def _window(*, days: int, now: datetime) -> tuple[str, list[datetime]]:
    now = now.astimezone(UTC)
    if days == 1:
        last = now.replace(minute=0, second=0, microsecond=0)
        return "hour", [last - timedelta(hours=n) for n in range(23, -1, -1)]
    last = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return "day", [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _series(
    queryset, *, field: str, bucket: str, starts: list[datetime], keys: list[str], key_of=None, tokens: bool = False
) -> tuple[list[dict], dict]:
    trunc = TruncHour if bucket == "hour" else TruncDay
    aggregates: dict[str, Any] = {"n": Count("id")}
    if tokens:
        aggregates["tokens"] = Sum("prompt_tokens") + Sum("completion_tokens")
    rows = (
        queryset.filter(**{f"{field}__gte": starts[0]})
        .annotate(bucket=trunc(field, tzinfo=UTC))
        .values("bucket", "status")
        .annotate(**aggregates)
        .order_by()
    )
    empty = dict.fromkeys(keys, 0) | ({"tokens": 0} if tokens else {})
    points: dict[datetime, dict[str, Any]] = {start: {"t": start, **empty} for start in starts}
    totals = {**empty, "total": 0}
    for row in rows:  # one row per (bucket, status): at most buckets x statuses
        point = points.get(row["bucket"])
        key = key_of(row["status"]) if key_of else row["status"]
        if point is None or key not in empty:
            continue
        point[key] += row["n"]
        totals[key] += row["n"]
        totals["total"] += row["n"]
        if tokens:
            point["tokens"] += row["tokens"] or 0
            totals["tokens"] += row["tokens"] or 0
    return list(points.values()), totals


def tenant_overview(*, days: int, now: datetime | None = None) -> dict:
    """The dashboard's figures for the tenant whose schema the connection is on (read-only)."""
    bucket, starts = _window(days=days, now=now or timezone.now())
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    connections = list(
        Connection.objects.order_by("name", "id").values(
            "id", "name", "provider", "status", "last_checked_at", "last_latency_ms", "last_error"
        )
    )
    by_status = dict.fromkeys(CONNECTION_STATUSES, 0)
    for row in Connection.objects.values("status").annotate(n=Count("id")).order_by():
        by_status[row["status"]] = row["n"]

    common: dict[str, Any] = {"bucket": bucket, "starts": starts}
    events, event_totals = _series(Event.objects.all(), field="received_at", keys=EVENT_STATUSES, **common)
    deliveries, delivery_totals = _series(
        Delivery.objects.all(), field="created_at", keys=DELIVERY_OUTCOMES, key_of=DELIVERY_OUTCOME.get, **common
    )
    agent_runs, agent_totals = _series(
        AgentRun.objects.all(), field="created_at", keys=AGENT_STATUSES, tokens=True, **common
    )
    workflow_runs, workflow_totals = _series(
        WorkflowRun.objects.all(), field="started_at", keys=WORKFLOW_STATUSES, **common
    )
    return {
        "window": {"days": days, "bucket": bucket, "since": starts[0], "until": starts[-1] + step},
        "connections": {"total": len(connections), "by_status": by_status, "items": connections},
        "series": {
            "events": events,
            "deliveries": deliveries,
            "agent_runs": agent_runs,
            "workflow_runs": workflow_runs,
        },
        "totals": {
            "events": event_totals,
            "deliveries": delivery_totals,
            "agent_runs": agent_totals,
            "workflow_runs": workflow_totals,
        },
    }


class OverviewView(TenantScoped, APIView):
    resource = "tenant"  # GET only: the matrix's read (viewers; API keys with tenant:read)

    @extend_schema(
        parameters=[OverviewQuerySerializer],
        responses={200: OverviewSerializer},
        tags=["overview"],
        operation_id="overview",
    )
    def get(self, request):
        query = OverviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.tenant  # noqa: B018  (settles tenant access before reading the tenant's schema)
        return Response(OverviewSerializer(tenant_overview(days=query.validated_data["days"])).data)


urlpatterns = [path("overview/", OverviewView.as_view(), name="overview")]
