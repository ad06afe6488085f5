"""The platform's own Prometheus metrics that are not owned by one module, and the gauges computed at scrape time.

Names are stable (dashboards and alert rules use them) and labels are bounded: provider keys, statuses, template
keys and outcomes only — never a tenant, user or object id. Per-tenant views come from the logs (every JSON line
carries `tenant`), not from metric labels.

Scrape-time gauges (`ScrapeTimeCollector`, registered once on the default registry and added to the Celery
worker's registry):
- `bizosaas_celery_queue_length{queue}`: Redis LLEN of each Celery queue (one round trip per queue).
- `bizosaas_events_pending`: inbound/API events of active tenants stored but not fanned out yet, counted in the
  public index of owed work (capped, cached for EVENTS_PENDING_CACHE_SECONDS in the process), so a scrape costs
  the same with 10,000 tenants as with one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from bizosaas.digits import ascii_digits

logger = logging.getLogger(__name__)

OAUTH_REFRESH_FAILURES = Counter(
    "bizosaas_oauth_refresh_failures_total", "OAuth token refreshes the provider refused, by provider", ["provider"]
)
AGENT_RUNS = Counter(
    "bizosaas_agent_runs_total",
    "Finished agent runs by status",
    ["status"],  # succeeded | failed | cancelled
)
AGENT_APPROVALS = Counter(
    "bizosaas_agent_approvals_total",
    "Approvals of agent (and MCP) actions by source and outcome",
    ["source", "outcome"],  # agent_run | mcp; requested | approved | rejected | expired
)
AGENT_TOKENS = Counter(
    "bizosaas_agent_llm_tokens_total",
    "LLM tokens used by agent runs",
    ["kind"],  # prompt | completion
)
AGENT_RUN_SECONDS = Histogram(
    "bizosaas_agent_run_seconds",
    "Agent run duration",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf")),
)
KNOWLEDGE_DOCUMENTS = Counter(
    "bizosaas_knowledge_documents_ingested_total",
    "Knowledge documents ingested by outcome",
    ["outcome"],  # ready | failed
)
KNOWLEDGE_CHUNKS = Counter("bizosaas_knowledge_chunks_total", "Chunks embedded and stored by knowledge ingestion")
KNOWLEDGE_INGEST_SECONDS = Histogram(
    "bizosaas_knowledge_ingest_seconds",
    "Knowledge ingestion duration per document",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, float("inf")),
)
WORKFLOW_RUNS = Counter(
    "bizosaas_workflow_runs_total",
    "Finished workflow runs by template and status",
    ["template", "status"],  # completed | failed | cancelled | terminated | timed_out
)

EVENTS_PENDING_CACHE_SECONDS = 15.0
EVENTS_PENDING_CAP = 1_000_000


def celery_queue_names() -> list[str]:
    from django.conf import settings

    names = [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery"]
    for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or ():
        name = getattr(queue, "name", queue)
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def celery_queue_lengths() -> dict[str, int]:
    """LLEN of each Celery queue in the broker (Redis). Raises when Redis cannot be reached."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        pipe = client.pipeline(transaction=False)
        names = celery_queue_names()
        for name in names:
            pipe.llen(name)
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    finally:
        client.close()


_events_pending_counter: Callable[[], int] | None = None


def register_events_pending_counter(counter: Callable[[], int]) -> None:
    """How `bizosaas_events_pending` is counted: filled in by the app owning the index of owed work, in ready()."""
    global _events_pending_counter
    _events_pending_counter = counter


def events_pending_count() -> int:
    """Pending events of active tenants, at most EVENTS_PENDING_CAP (apps.integrations.selectors counts them)."""
    if _events_pending_counter is None:
        raise LookupError("no counter of pending events is registered (apps.integrations registers it)")
    return _events_pending_counter()


class ScrapeTimeCollector:
    """Gauges read from Redis and PostgreSQL when Prometheus scrapes; a failing source drops its gauge and sets
    `bizosaas_scrape_source_up{source}` to 0 instead of failing the scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: tuple[float, int] | None = None

    def describe(self):
        return []  # computed at collect time; nothing to check at registration

    def _events_pending(self) -> int:
        with self._lock:
            now = time.monotonic()
            if self._pending is not None and now - self._pending[0] < EVENTS_PENDING_CACHE_SECONDS:
                return self._pending[1]
            value = events_pending_count()
            self._pending = (now, value)
            return value

    def invalidate(self) -> None:
        with self._lock:
            self._pending = None

    def collect(self):
        up = GaugeMetricFamily("bizosaas_scrape_source_up", "Whether a scrape-time source answered", labels=["source"])
        try:
            lengths = celery_queue_lengths()
        except Exception as exc:
            logger.warning("celery queue length unavailable: %s", type(exc).__name__)
            up.add_metric(["redis"], 0)
        else:
            queues = GaugeMetricFamily(
                "bizosaas_celery_queue_length", "Tasks waiting in each Celery queue", labels=["queue"]
            )
            for name, length in lengths.items():
                queues.add_metric([name], length)
            up.add_metric(["redis"], 1)
            yield queues
        try:
            pending = self._events_pending()
        except Exception as exc:
            logger.warning("pending event count unavailable: %s", type(exc).__name__)
            up.add_metric(["postgres"], 0)
        else:
            yield GaugeMetricFamily("bizosaas_events_pending", "Events stored but not fanned out yet", value=pending)
            up.add_metric(["postgres"], 1)
        yield up


SCRAPE_TIME_COLLECTOR = ScrapeTimeCollector()
_registered = False
_register_lock = threading.Lock()


def register_scrape_time_collector(registry: CollectorRegistry = REGISTRY) -> None:
    """Adds the scrape-time gauges to `registry` (the default one once per process, whoever calls first)."""
    global _registered
    with _register_lock:
        if registry is REGISTRY:
            if _registered:
                return
            _registered = True
    registry.register(SCRAPE_TIME_COLLECTOR)


def app_registry(multiprocess_dir: str | None = None) -> CollectorRegistry:
    """The registry a worker's /metrics serves: every process's values when in multiprocess mode (prefork
    children), else the default registry; plus the scrape-time gauges."""
    directory = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        register_scrape_time_collector()
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(SCRAPE_TIME_COLLECTOR)
    return registry


def parse_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not ascii_digits(port):
        raise ValueError(f"invalid metrics address {bind!r}; expected host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


def start_metrics_server(bind: str, registry: CollectorRegistry | None = None):
    """Serves `registry` (the default registry with the scrape-time gauges when None) on http://bind/metrics in a
    daemon thread; returns (server, thread). Used by the Celery worker and the Temporal worker."""
    from prometheus_client import start_http_server

    host, port = parse_bind(bind)
    return start_http_server(port, addr=host, registry=registry if registry is not None else app_registry())


register_scrape_time_collector()
