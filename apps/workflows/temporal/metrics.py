"""The Temporal SDK's own metrics (workflow and activity task latencies, completions, failures, polls, RPC calls to
the frontend) on a Prometheus `/metrics` endpoint served by the SDK's native runtime.

The address is `settings.TEMPORAL_METRICS_BIND` ("host:port", default 127.0.0.1:9464; an empty string disables the
endpoint). A client connected with the runtime reports through it, and so does every worker built on that client.
"""

from __future__ import annotations

import threading

from django.conf import settings
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

DEFAULT_BIND = "127.0.0.1:9464"

_runtimes: dict[str, Runtime] = {}
_lock = threading.Lock()


class MetricsUnavailable(Exception):
    """The metrics endpoint could not be opened (an invalid address, or one already in use)."""


def metrics_bind() -> str:
    return getattr(settings, "TEMPORAL_METRICS_BIND", DEFAULT_BIND) or ""


def metrics_runtime(bind: str | None = None) -> Runtime | None:
    """The SDK runtime serving `/metrics` at `bind` (the setting when None); None when the address is empty.

    The endpoint opens when the runtime is made and stays open for the life of the process, so there is one runtime
    per address per process."""
    bind = metrics_bind() if bind is None else bind
    if not bind:
        return None
    with _lock:
        if bind not in _runtimes:
            try:
                _runtimes[bind] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
            except ValueError as exc:  # "Failed starting Prometheus exporter: Address already in use", ...
                raise MetricsUnavailable(f"Temporal metrics endpoint at {bind!r}: {exc}") from exc
        return _runtimes[bind]
