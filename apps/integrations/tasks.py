"""Celery entry points. Each carries the tenant schema explicitly and enters it before touching the database."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django_tenants.utils import schema_context

from apps.integrations import dispatch
from bizosaas.work import ACTIONS, DELIVERIES, FANOUT, task_options

FANOUT_OPTIONS = task_options(FANOUT, settings.FANOUT_TIME_LIMITS, chain=True)


@shared_task(name="integrations.process_event", **FANOUT_OPTIONS)
def process_event(schema: str, event_id: int) -> None:
    close_old_connections()
    with schema_context(schema):
        dispatch.event_process(event_id)


@shared_task(name="integrations.process_events", **{**FANOUT_OPTIONS, "merge_ids": True})
def process_events(schema: str, event_ids: list[int]) -> None:
    """A batch handed over by a gateway process or the sweeper; one failing event does not hold the others."""
    close_old_connections()
    with schema_context(schema):
        dispatch.events_process(event_ids)


@shared_task(name="integrations.deliver", **task_options(DELIVERIES, settings.DELIVERY_TIME_LIMITS, chain=True))
def deliver(schema: str, delivery_id: int, trigger: str = "scheduled") -> None:
    close_old_connections()
    with schema_context(schema):
        dispatch.delivery_send(delivery_id, trigger)


@shared_task(
    name="integrations.deliver_batch",
    **task_options(
        DELIVERIES, settings.DELIVERY_TIME_LIMITS, chain=True, merge_ids=True, merge_limit="DELIVERY_BATCH_SIZE"
    ),
)
def deliver_batch(schema: str, delivery_ids: list[int]) -> None:
    """Deliveries sent together (the parked ones of the tenant merged up to DELIVERY_BATCH_SIZE)."""
    close_old_connections()
    with schema_context(schema):
        dispatch.deliveries_send(delivery_ids)


@shared_task(name="integrations.run_action", **task_options(ACTIONS, settings.ACTION_TIME_LIMITS, chain=True))
def run_action(schema: str, action_run_id: int) -> None:
    close_old_connections()
    with schema_context(schema):
        dispatch.action_run_perform(action_run_id)


@shared_task(
    name="integrations.run_actions",
    **task_options(ACTIONS, settings.ACTION_TIME_LIMITS, chain=True, merge_ids=True, merge_limit="ACTION_BATCH_SIZE"),
)
def run_actions(schema: str, action_run_ids: list[int]) -> None:
    """Action runs performed in one task (the parked ones of the tenant merged up to ACTION_BATCH_SIZE)."""
    close_old_connections()
    with schema_context(schema):
        dispatch.action_runs_perform(action_run_ids)


@shared_task(
    name="integrations.sweep",
    queue=FANOUT,
    ignore_result=True,
    soft_time_limit=settings.FANOUT_TIME_LIMITS[0],
    time_limit=settings.FANOUT_TIME_LIMITS[1],
)
def sweep() -> dict:
    close_old_connections()
    return dispatch.sweep()
