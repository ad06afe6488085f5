"""Every PromQL expression of the provisioned dashboards and the alert rules names metrics the code exports (or the
Temporal SDK / Prometheus itself provides), so no panel or alert silently shows "no data" because of a typo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
ALERTS = DOCKER / "prometheus" / "alerts.yml"

# Not exported by our Python code: Prometheus' own series, and the Temporal SDK's worker metrics (served by its native
# runtime on TEMPORAL_METRICS_BIND; names as listed in Temporal's SDK metrics reference; the ones the dashboards and
# alerts use are seen on a real worker by tests/workflows/test_worker_metrics.py).
EXTERNAL = {
    "up",
    "temporal_workflow_completed",
    "temporal_workflow_failed",
    "temporal_workflow_task_execution_failed",
    "temporal_activity_execution_failed",
    "temporal_activity_execution_latency_bucket",
    "temporal_request",
    "temporal_request_failure",
}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "inf", "nan", "le",
}  # fmt: skip
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers that are not functions, keywords, labels or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", " ", text)  # numbers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in IDENT.finditer(text):
        name = match.group(0)
        following = text[match.end() :].lstrip()[:1]
        if name.lower() in KEYWORDS or following == "(" or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if (target.get("datasource") or panel["datasource"])["type"] == "prometheus":
                    found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [(f"alert {rule['alert']}", rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture
def exported(db, client) -> set[str]:
    """Every sample name the platform's processes export: the default registry once every module that defines
    metrics is imported and the gateway has served a request (django-prometheus makes its metrics then), plus the
    scrape-time gauges."""
    assert client.get("/healthz", HTTP_HOST="localhost").status_code == 200
    import django_prometheus.middleware  # noqa: F401

    import apps.connectors.http
    import apps.integrations.dispatch
    import apps.integrations.inbound
    import apps.integrations.outbound  # noqa: F401
    from bizosaas.metrics import SCRAPE_TIME_COLLECTOR

    names = set(REGISTRY._names_to_collectors)  # counters' _total, histograms' _bucket/_sum/_count included
    for family in SCRAPE_TIME_COLLECTOR.collect():
        names.add(family.name)
    return names


def test_the_dashboards_and_rules_have_expressions():
    assert {path.name for path in DASHBOARDS} == {"system-health.json", "tenant.json"}
    assert len(dashboard_exprs()) >= 15
    assert len(alert_exprs()) >= 6


def test_the_parser_finds_metrics_and_skips_functions_labels_and_keywords():
    expr = 'sum by (le, view) (rate(django_x_bucket{status=~"5.."}[5m])) / on(job) up and deriv(max(y_total)[15m:1m])'

    assert metric_names(expr) == {"django_x_bucket", "up", "y_total"}


@pytest.mark.parametrize("where,expr", dashboard_exprs() + alert_exprs(), ids=lambda value: str(value)[:60])
def test_every_expression_refers_to_exported_metrics(where, expr, exported):
    names = metric_names(expr)

    assert names, f"{where}: no metric found in {expr!r}"
    unknown = sorted(name for name in names if name not in exported and name not in EXTERNAL)
    assert not unknown, f"{where}: {unknown} are not exported"


def test_the_metrics_the_issue_names_are_all_on_a_dashboard(exported):
    used = set().union(*(metric_names(expr) for _where, expr in dashboard_exprs()))
    wanted = {
        "bizosaas_webhooks_received_total",
        "bizosaas_events_pending",
        "bizosaas_webhook_deliveries_total",
        "bizosaas_rule_runs_total",
        "bizosaas_connector_requests_total",
        "bizosaas_connector_request_seconds_bucket",
        "bizosaas_oauth_refresh_failures_total",
        "bizosaas_agent_runs_total",
        "bizosaas_agent_llm_tokens_total",
        "bizosaas_knowledge_documents_ingested_total",
        "bizosaas_workflow_runs_total",
        "bizosaas_celery_queue_length",
        "django_http_requests_latency_seconds_by_view_method_bucket",
    }

    assert wanted <= exported
    assert wanted <= used, sorted(wanted - used)
