"""Putting the integrations' work on the task queue: the leaf helpers every part of the app calls ("queue
this"), below the fan-out and the delivery engine (dispatch), which call them too.

Events: `event_emit` stores an event of the platform's own (or an API client's) and `enqueue_event` hands a stored event
to this process's publisher thread, which sends the tenant's ids in batches (`publish_batch`). Deliveries and
rule actions: `enqueue_delivery` / `enqueue_action` queue one and mark its row; `queue_deliveries` /
`queue_actions` queue rows already marked, in batches. A broker that does not take a task never fails the caller:
the row stays owed and the sweeper queues it (`to_broker`).

Tasks are looked up by name in the Celery app's registry (apps.integrations.tasks registers them), so this module
does not import the tasks that import the engine that imports it.
"""

from __future__ import annotations

import atexit
import logging
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from apps.accounts import quotas
from apps.integrations.models import ActionRun, Delivery, Event
from apps.integrations.publisher import Publisher
from bizosaas.celery import app as celery_app
from bizosaas.tenancy import current_schema

logger = logging.getLogger(__name__)

ENQUEUE_FAILURES = Counter(
    "bizosaas_broker_enqueue_failures_total", "Tasks that could not be queued (left for the sweeper)", ["task"]
)


def _task(name: str):
    """The task `integrations.<name>` of apps.integrations.tasks."""
    return celery_app.tasks[f"integrations.{name}"]


# --- tasks to the broker -----------------------------------------------------------------------------------------


# Deliveries written marked by the actions of a running batch (run_actions), queued together when it ends
collected_deliveries: ContextVar[list[int] | None] = ContextVar("collected_deliveries", default=None)
_broker_down_until = 0.0  # after a failure, requests stop trying the broker for a moment (the sweeper catches up)


def to_broker(task_name: str, send, count: int = 1) -> bool:
    """Calls `send` (which hands `count` tasks to the broker) unless the broker failed a moment ago; True when it
    took them. Never raises and never blocks long: on failure the rows stay pending for the sweeper."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        ENQUEUE_FAILURES.labels(task_name).inc(count)
        return False
    try:
        send()
    except Exception as exc:  # broker down, connection refused, timeout: the database still has the work
        _broker_down_until = time.monotonic() + settings.INTEGRATIONS_BROKER_PAUSE_SECONDS
        ENQUEUE_FAILURES.labels(task_name).inc(count)
        logger.warning("could not queue %s, left for the sweeper: %s", task_name, type(exc).__name__)
        return False
    return True


def _queue(task_name: str, args: tuple, *, countdown: float | None = None) -> bool:
    """True when the broker took the task (see `_to_broker`)."""
    task = _task(task_name)
    return to_broker(task_name, lambda: task.apply_async(args, countdown=countdown, retry=False))


def broker_pause_reset() -> None:
    """Forget a recent broker failure (the sweeper calls it: its run is the probe that the broker is back)."""
    global _broker_down_until
    _broker_down_until = 0.0


def enqueue_event(schema: str, event_id: int) -> None:
    """Queues an event's fan-out. Accepted webhooks go through this process's publisher thread (batched, off
    the request); anything it cannot hand over stays pending for the sweeper."""
    publisher.submit(schema, event_id)


def publish_batch(schema: str, event_ids: list[int]) -> bool:
    return _queue("process_events", (schema, event_ids))


def enqueue_delivery(
    delivery_id: int, *, replay: bool = False, countdown: float | None = None, marked: bool = False
) -> bool:
    """Queues the delivery and marks it enqueued. `marked`: the row was written with `enqueued_at` already set; it
    is unmarked when the broker does not take the task (so the sweeper has it), and costs no write otherwise."""
    collected = collected_deliveries.get()
    if marked and collected is not None and not replay and countdown is None:
        collected.append(delivery_id)  # handed over with the batch's others when it ends (run_actions)
        return True
    if replay or countdown is not None:
        trigger = "replay" if replay else "scheduled"
        queued = _queue("deliver", (current_schema(), delivery_id, trigger), countdown=countdown)
    else:  # a batch of one: parked behind the tenant's other deliveries, it is sent together with them
        queued = _queue("deliver_batch", (current_schema(), [delivery_id]))
    if queued != marked:
        Delivery.objects.filter(pk=delivery_id).update(enqueued_at=timezone.now() if queued else None)
    return queued


def enqueue_action(action_run_id: int, *, countdown: float | None = None) -> bool:
    if countdown is not None:
        queued = _queue("run_action", (current_schema(), action_run_id), countdown=countdown)
    else:  # a batch of one: parked behind the tenant's other actions, it is performed together with them
        queued = _queue("run_actions", (current_schema(), [action_run_id]))
    if queued:
        ActionRun.objects.filter(pk=action_run_id).update(enqueued_at=timezone.now())
    return queued


def event_emit(
    event_type: str, payload: dict, *, connection=None, source: str = Event.Source.SYSTEM, external_id: str = ""
):
    """Raises an event of the platform's own (or an API client's) and fans it out like a webhook's. Counts against
    the tenant's events per day: an API client's is refused over it (QuotaExceeded), the platform's own never."""
    schema = current_schema()
    if source != Event.Source.SYSTEM:
        quotas.consume(schema, "events_per_day")
    event = Event.objects.create(
        source=source,
        connection=connection,
        provider=connection.provider if connection is not None else "",
        external_id=external_id,
        type=event_type,
        raw_type=event_type,
        payload=payload,
    )
    if source == Event.Source.SYSTEM:
        quotas.count(schema, "events_per_day")
    transaction.on_commit(lambda: enqueue_event(schema, event.pk))
    return event


def queue_batches(task_name: str, model, ids: list[int], size: int) -> bool:
    """Queues rows marked enqueued as tasks of `size` ids each (see `queue_marked`)."""
    batches = [(ids[start : start + size],) for start in range(0, len(ids), size)]
    return queue_marked(task_name, model, batches, ids)


def queue_actions(action_run_ids: list[int]) -> bool:
    return queue_batches("run_actions", ActionRun, action_run_ids, settings.ACTION_BATCH_SIZE)


def queue_deliveries(delivery_ids: list[int]) -> bool:
    return queue_batches("deliver_batch", Delivery, delivery_ids, settings.DELIVERY_BATCH_SIZE)


def queue_marked(task_name: str, model, calls: list[tuple], ids: list[int]) -> bool:
    """Queues the tasks of rows already marked enqueued (`ids`, which the calls' arguments name), in bulk within
    the tenant's share; when the broker does not take them, the rows are unmarked, so the sweeper queues them at
    its next pass (a task sent before a failure part-way finds its row unmarked and still runs it: claims guard)."""
    if not calls:
        return True
    schema, task = current_schema(), _task(task_name)
    if not to_broker(task_name, lambda: task.apply_many(schema, [(schema, *call) for call in calls]), len(calls)):
        model.objects.filter(pk__in=ids).update(enqueued_at=None)
        return False
    return True


publisher = Publisher(publish_batch)
atexit.register(publisher.flush)
