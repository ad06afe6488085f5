"""The super-admin console's "System health" page: figures the platform computes itself, live.

Per-tenant figures come from one statement per batch of active tenant schemas (each part uses the tables' indexed
time or status columns), so the page stays bounded however many tenants there are; at most MAX_SCHEMAS schemas are
read and the page says when it stopped there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db import connection, transaction
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.accounts.models import Tenant
from bizosaas.metrics import celery_queue_lengths

logger = logging.getLogger(__name__)

MAX_SCHEMAS = 1000
BATCH = 100
WINDOW = timedelta(hours=1)
FIGURES = (
    "events",
    "events_failed",
    "events_pending",
    "deliveries",
    "deliveries_succeeded",
    "deliveries_failed",
    "connector_errors",
    "connections_failing",
    "workflow_runs",
    "workflow_failures",
    "agent_runs_failed",
)
# One row per schema; %(schema)s is a quoted identifier, the two %s are the window's start.
_PART = """SELECT %(literal)s AS schema_name,
 (SELECT count(*) FROM %(schema)s.integrations_event WHERE received_at >= %%s) AS events,
 (SELECT count(*) FROM %(schema)s.integrations_event WHERE status = 'failed' AND received_at >= %%s) AS events_failed,
 (SELECT count(*) FROM (SELECT 1 FROM %(schema)s.integrations_event WHERE status = 'pending' LIMIT 100000) AS p)
   AS events_pending,
 (SELECT count(*) FROM %(schema)s.integrations_delivery WHERE created_at >= %%s) AS deliveries,
 (SELECT count(*) FROM %(schema)s.integrations_delivery WHERE status = 'succeeded' AND created_at >= %%s)
   AS deliveries_succeeded,
 (SELECT count(*) FROM %(schema)s.integrations_delivery WHERE status = 'failed' AND updated_at >= %%s)
   AS deliveries_failed,
 (SELECT count(*) FROM %(schema)s.connectors_connectioncheck WHERE ok = false AND checked_at >= %%s)
   AS connector_errors,
 (SELECT count(*) FROM %(schema)s.connectors_connection WHERE status IN ('error', 'needs_reauth'))
   AS connections_failing,
 (SELECT count(*) FROM %(schema)s.workflows_workflowrun WHERE started_at >= %%s) AS workflow_runs,
 (SELECT count(*) FROM %(schema)s.workflows_workflowrun WHERE status IN ('failed', 'timed_out', 'terminated')
   AND started_at >= %%s AND finished_at >= %%s) AS workflow_failures,
 (SELECT count(*) FROM %(schema)s.agents_agentrun WHERE status = 'failed' AND created_at >= %%s)
   AS agent_runs_failed"""
_PARAMS_PER_PART = 11


@dataclass
class TenantFigures:
    slug: str
    schema: str
    figures: dict[str, int]

    @property
    def problems(self) -> int:
        f = self.figures
        return f["events_failed"] + f["deliveries_failed"] + f["connector_errors"] + f["workflow_failures"]


@dataclass
class SystemHealth:
    generated_at: datetime
    since: datetime
    tenants_active: int
    tenants_suspended: int
    totals: dict[str, int]
    tenants_read: int
    truncated: bool
    queue_lengths: dict[str, int] | None
    attention: list[TenantFigures] = field(default_factory=list)


def _schema_figures(schemas: list[str], since: datetime) -> dict[str, dict[str, int]]:
    quote = connection.ops.quote_name
    result: dict[str, dict[str, int]] = {}
    # finished workflow failures may have started up to a day before the window
    workflow_start = since - timedelta(days=1)
    for start in range(0, len(schemas), BATCH):
        batch = schemas[start : start + BATCH]
        parts: list[str] = []
        params: list[Any] = []
        for schema in batch:
            # schema names come from the Tenant table (validated slugs); quoted as identifiers, passed as literals
            parts.append(_PART % {"schema": quote(schema), "literal": "%s"})
            params += [schema, *[since] * 7, workflow_start, since, since]
        assert len(params) == _PARAMS_PER_PART * len(batch)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 5000")
            cursor.execute(" UNION ALL ".join(parts), params)
            for row in cursor.fetchall():
                result[row[0]] = dict(zip(FIGURES, (int(value) for value in row[1:]), strict=True))
    return result


def system_health_compute(*, now: datetime | None = None) -> SystemHealth:
    """The figures of the last hour over every active tenant (at most MAX_SCHEMAS), read from the public schema."""
    now = now or timezone.now()
    since = now - WINDOW
    tenants = Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
    by_status = dict(tenants.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    active = list(
        tenants.filter(status=Tenant.Status.ACTIVE)
        .order_by("slug")
        .values_list("slug", "schema_name")[: MAX_SCHEMAS + 1]
    )
    truncated = len(active) > MAX_SCHEMAS
    active = active[:MAX_SCHEMAS]
    figures = _schema_figures([schema for _slug, schema in active], since)
    totals = dict.fromkeys(FIGURES, 0)
    rows = []
    for slug, schema in active:
        values = figures.get(schema)
        if values is None:
            continue
        for name, value in values.items():
            totals[name] += value
        rows.append(TenantFigures(slug=slug, schema=schema, figures=values))
    try:
        queues = celery_queue_lengths()
    except Exception as exc:  # the page still shows everything else when Redis is down
        logger.warning("celery queue length unavailable: %s", type(exc).__name__)
        queues = None
    attention = sorted((row for row in rows if row.problems), key=lambda row: (-row.problems, row.slug))[:20]
    return SystemHealth(
        generated_at=now,
        since=since,
        tenants_active=by_status.get(Tenant.Status.ACTIVE, 0),
        tenants_suspended=by_status.get(Tenant.Status.SUSPENDED, 0),
        totals=totals,
        tenants_read=len(rows),
        truncated=truncated,
        queue_lengths=queues,
        attention=attention,
    )


def system_health_view(request):
    health = system_health_compute()
    context = {
        **admin.site.each_context(request),
        "title": "System health",
        "health": health,
        "grafana_url": getattr(settings, "GRAFANA_URL", ""),
        "max_schemas": MAX_SCHEMAS,
    }
    response = TemplateResponse(request, "admin/system_health.html", context)
    response["Cache-Control"] = "no-store"
    return response


# admin_view: superusers only (the console's has_permission), login redirect otherwise, never cached
system_health = admin.site.admin_view(system_health_view)
