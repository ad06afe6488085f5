"""The one way to reach Temporal: address, namespace and task queue from settings."""

from __future__ import annotations

from django.conf import settings
from temporalio.client import Client
from temporalio.runtime import Runtime


async def connect(*, runtime: Runtime | None = None) -> Client:
    """A client; with `runtime`, its SDK metrics go where that runtime says (the worker's Prometheus endpoint).
    Starts, signals and schedule actions carry the tenant schema in a header (apps.workflows.temporal.interceptors).
    """
    # interceptors imports temporalio.worker (and its sandbox), which a process that never connects need not load
    from apps.workflows.temporal.interceptors import TenantClientInterceptor

    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=settings.TEMPORAL_NAMESPACE,
        runtime=runtime,
        interceptors=[TenantClientInterceptor()],
    )
