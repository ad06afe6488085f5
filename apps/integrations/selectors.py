"""Reads of the integrations app with logic of their own: what the integrations overview shows per connection, and
what other parts of the platform ask for (metrics, the sweeper's gauges)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, OuterRef

from apps.accounts.models import active_tenant_exists
from apps.connectors.models import Connection
from apps.integrations.models import Delivery, InboundEndpoint, Rule, RuleRun, Subscription
from apps.integrations.routing.models import PendingWork
from bizosaas.metrics import EVENTS_PENDING_CAP


@dataclass
class Wiring:
    """What one connection is wired to (or, with no connection, what references none in particular)."""

    connection: Connection | None
    endpoints: list[InboundEndpoint] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)


@dataclass
class WiringOverview:
    connections: list[Wiring]
    unlinked: Wiring
    failed_deliveries: dict[int, int]  # subscription id -> its failed deliveries
    last_rule_runs: dict[int, datetime]  # rule id -> when it last ran


def _names_provider(pattern: str, provider: str) -> bool:
    """`shopify.order.*` names every Shopify connection; `*` and `*.contact.*` name none in particular."""
    return pattern.split(".")[0] == provider


def _rule_connections(rule: Rule) -> set[int]:
    ids = {rule.trigger_connection_id} if rule.trigger_connection_id else set()
    ids |= {a["connection"] for a in rule.actions if isinstance(a, dict) and a.get("connection")}
    return ids


def wiring_overview() -> WiringOverview:
    """Per connection of the current schema: its inbound endpoints (annotated with `received_count` and
    `last_event_at`), the subscriptions and rules that reference it by id or by its provider's event types; what
    references no connection is `unlinked`. Six queries, whatever the number of connections."""
    endpoints = list(
        InboundEndpoint.objects.select_related("connection").annotate(
            received_count=Count("events"), last_event_at=Max("events__received_at")
        )
    )
    subscriptions = list(Subscription.objects.all())
    rules = list(Rule.objects.all())
    last_runs = dict(RuleRun.objects.values_list("rule_id").annotate(last=Max("created_at")))
    failed = dict(
        Delivery.objects.filter(status=Delivery.Status.FAILED).values_list("subscription_id").annotate(n=Count("id"))
    )
    wired, linked_subscriptions, linked_rules = [], set(), set()
    for connection in Connection.objects.all():
        provider = connection.provider
        here = Wiring(
            connection,
            endpoints=[e for e in endpoints if e.connection_id == connection.id],
            subscriptions=[
                x
                for x in subscriptions
                if x.connection_id == connection.id
                or (x.connection_id is None and any(_names_provider(p, provider) for p in x.event_types))
            ],
            rules=[
                r
                for r in rules
                if connection.id in _rule_connections(r)
                or (r.trigger_connection_id is None and _names_provider(r.trigger_event, provider))
            ],
        )
        linked_subscriptions |= {x.id for x in here.subscriptions}
        linked_rules |= {r.id for r in here.rules}
        wired.append(here)
    unlinked = Wiring(
        None,
        endpoints=[e for e in endpoints if e.connection_id is None],
        subscriptions=[x for x in subscriptions if x.id not in linked_subscriptions],
        rules=[r for r in rules if r.id not in linked_rules],
    )
    return WiringOverview(wired, unlinked, failed_deliveries=failed, last_rule_runs=last_runs)


def events_pending_count() -> int:
    """Pending events of active tenants, counted in the public index of owed work (PendingWork): one indexed
    count, capped at EVENTS_PENDING_CAP, whatever the number of tenants."""
    pending = PendingWork.objects.filter(
        active_tenant_exists(OuterRef("schema_name")), kind=PendingWork.Kind.EVENT, state="pending"
    )
    return pending[:EVENTS_PENDING_CAP].count()
