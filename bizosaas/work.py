"""Work classes: each kind of background work has its own Celery queue, its own workers, time limits, and a cap
on how many of one tenant's tasks run at once across every worker.

A task of a class declares it with `@shared_task(base=TenantTask, queue=<class>, ...)`; its first argument is the
tenant schema, as every tenant task's is. When the tenant already has its share in flight (`in_flight_limit`), the
task goes back to its queue for a moment and the worker takes the next one: a tenant's backlog or slow endpoint
waits behind itself, never in front of other tenants, and never occupies a worker while it waits. The database
row behind the task (a pending delivery, action run, event or document) stays the promise: should the deferral
itself fail to reach the broker, the sweeper queues the row again.
"""

from __future__ import annotations

import logging
import random

from celery import Task
from django.conf import settings
from prometheus_client import Counter

from bizosaas import leases

logger = logging.getLogger(__name__)

FANOUT, DELIVERIES, ACTIONS, AGENTS, INGESTION = "fanout", "deliveries", "actions", "agents", "ingestion"
WORK_CLASSES = (FANOUT, DELIVERIES, ACTIONS, AGENTS, INGESTION)

DEFERRED = Counter(
    "bizosaas_tenant_work_deferred_total",
    "Tasks sent back to their queue because their tenant had its share of the work class in flight",
    ["queue"],
)


def in_flight_limit(work: str, schema: str) -> int:
    """How many of the tenant's tasks of this class may run at once (TENANT_IN_FLIGHT)."""
    return settings.TENANT_IN_FLIGHT.get(work, 1)


def slot_name(work: str, schema: str) -> str:
    return f"inflight:{work}:{schema}"


class TenantTask(Task):
    """A tenant's task of one work class (its `queue`), run only while the tenant is within its share."""

    abstract = True
    defer_seconds = (0.5, 1.5)  # how long an over-share task waits before it is looked at again (jittered)

    def __call__(self, *args, **kwargs):
        schema = args[0] if args else kwargs.get("schema", "")
        work = self.queue or settings.CELERY_TASK_DEFAULT_QUEUE
        name = slot_name(work, schema)
        lease = float(self.time_limit or settings.CELERY_TASK_TIME_LIMIT) + 30
        token = leases.try_acquire(name, limit=in_flight_limit(work, schema), lease=lease)
        if token is None:
            DEFERRED.labels(work).inc()
            self._defer(args, kwargs)
            return None
        try:
            return super().__call__(*args, **kwargs)
        finally:
            leases.release(name, token)

    def _defer(self, args, kwargs) -> None:
        try:
            self.apply_async(args, kwargs, countdown=random.uniform(*self.defer_seconds), retry=False)  # noqa: S311
        except Exception as exc:  # the broker is down: the row is still pending and the sweeper has it
            logger.warning("could not defer %s, left for the sweeper: %s", self.name, type(exc).__name__)
