"""The services' side of Temporal: starting, signalling and cancelling workflow executions and keeping each
scheduled WorkflowConfig's Temporal Schedule (id `wf-{schema}-{config_id}`) in step with its row.

Django code is synchronous and temporalio is asyncio: every public function here is synchronous and runs its
coroutine through `run_sync`, connecting afresh in that coroutine's loop (a client is bound to the loop it was
made in; connecting to the local frontend takes a few milliseconds)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from apps.accounts.models import Tenant
from apps.workflows.models import WorkflowConfig
from apps.workflows.templates import TEMPLATES
from apps.workflows.temporal.inputs import WorkflowInput
from bizosaas import durable
from bizosaas.digits import ascii_digits
from bizosaas.temporal import connect

T = TypeVar("T")

RPC_TIMEOUT = timedelta(seconds=10)  # a hung frontend must not hold a web request for long

SCHEDULE_PREFIX = "wf-"
OVERLAP = {
    WorkflowConfig.Overlap.SKIP: ScheduleOverlapPolicy.SKIP,
    WorkflowConfig.Overlap.BUFFER_ONE: ScheduleOverlapPolicy.BUFFER_ONE,
    WorkflowConfig.Overlap.ALLOW_ALL: ScheduleOverlapPolicy.ALLOW_ALL,
    WorkflowConfig.Overlap.CANCEL_OTHER: ScheduleOverlapPolicy.CANCEL_OTHER,
}


class TemporalUnavailable(durable.Unavailable):
    """Temporal could not be reached or refused the request for a reason of its own (the API answers 503)."""

    default_detail = "The workflow engine (Temporal) is unavailable; try again later."


class WorkflowGone(Exception):
    """The execution does not exist any more or has already finished."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs `coro` to completion from synchronous code, in a fresh event loop (in a helper thread when this thread
    already runs a loop, as under an async test or an ASGI worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _call(fn: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            client = await connect()
        except Exception as exc:  # temporalio raises RuntimeError("Failed client connect: ...")
            raise TemporalUnavailable(
                f"The workflow engine (Temporal at {settings.TEMPORAL_ADDRESS}) cannot be reached: {exc}"[:480]
            ) from exc
        return await fn(client)

    try:
        return run_sync(go())
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowGone(exc.message) from exc
        raise TemporalUnavailable(f"The workflow engine (Temporal) refused the request: {exc.message}"[:480]) from exc


# --- workflow executions -------------------------------------------------------------------------------------


def workflow_input(
    *, schema: str, config_id: int | None, template: str, params: dict, trigger: str, user_id: int | None
) -> WorkflowInput:
    """THE input every template workflow takes (and every schedule action passes)."""
    return WorkflowInput(
        schema=schema, config_id=config_id, template=template, params=params, trigger=trigger, user_id=user_id
    )


def new_workflow_id(schema: str, config_id: int | None) -> str:
    return f"wf-{schema}-{config_id or 'adhoc'}-{uuid.uuid4().hex[:12]}"


def workflow_start(*, workflow_id: str, input: WorkflowInput, task_queue: str | None = None) -> str:
    """Starts the template's workflow under `workflow_id`; returns the Temporal run id."""
    workflow_type = TEMPLATES[input.template].workflow

    async def go(client: Client) -> str:
        handle = await client.start_workflow(
            workflow_type,
            input,
            id=workflow_id,
            task_queue=task_queue or settings.TEMPORAL_TASK_QUEUE,
            rpc_timeout=RPC_TIMEOUT,
        )
        return handle.result_run_id or ""

    return _call(go)


def workflow_cancel(workflow_id: str) -> None:
    async def go(client: Client) -> None:
        await client.get_workflow_handle(workflow_id).cancel(rpc_timeout=RPC_TIMEOUT)

    _call(go)


def workflow_signal(workflow_id: str, signal: str, payload: Any) -> None:
    async def go(client: Client) -> None:
        await client.get_workflow_handle(workflow_id).signal(signal, payload, rpc_timeout=RPC_TIMEOUT)

    _call(go)


# --- schedules -----------------------------------------------------------------------------------------------


def schedule_id(schema: str, config_id: int) -> str:
    return f"{SCHEDULE_PREFIX}{schema}-{config_id}"


def parse_schedule_id(value: str) -> tuple[str, int] | None:
    """(schema, config_id) of one of our schedule ids, or None for anything else."""
    if not value.startswith(SCHEDULE_PREFIX):
        return None
    schema, _, config_id = value[len(SCHEDULE_PREFIX) :].rpartition("-")
    if not schema or not ascii_digits(config_id):
        return None
    return schema, int(config_id)


@dataclass(frozen=True)
class ScheduleShape:
    """What we compare to find drift. Temporal compiles cron strings into calendars, so the cron itself travels in
    the schedule's note, which we own."""

    workflow: str
    input: dict  # as Temporal holds it (WorkflowInput.wire())
    task_queue: str
    time_zone: str
    overlap: ScheduleOverlapPolicy
    paused: bool
    note: str


def _note(config: WorkflowConfig) -> str:
    return f"bizosaas workflow config {config.pk}: cron {config.schedule_cron!r}"


def _tenant_suspended(schema: str) -> bool:
    return Tenant.objects.filter(schema_name=schema, status=Tenant.Status.SUSPENDED).exists()


def desired_shape(schema: str, config: WorkflowConfig, *, task_queue: str | None = None) -> ScheduleShape:
    """What Temporal should hold for the config: paused while the config is disabled or its tenant suspended."""
    return ScheduleShape(
        workflow=TEMPLATES[config.template].workflow,
        input=workflow_input(
            schema=schema,
            config_id=config.pk,
            template=config.template,
            params=config.parameters,
            trigger="schedule",
            user_id=None,
        ).wire(),
        task_queue=task_queue or settings.TEMPORAL_TASK_QUEUE,
        time_zone=config.timezone,
        overlap=OVERLAP[WorkflowConfig.Overlap(config.overlap_policy)],
        paused=not config.enabled or _tenant_suspended(schema),
        note=_note(config),
    )


def _schedule(schema: str, config: WorkflowConfig, shape: ScheduleShape) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            shape.workflow, shape.input, id=schedule_id(schema, config.pk), task_queue=shape.task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[config.schedule_cron], time_zone_name=config.timezone),
        policy=SchedulePolicy(overlap=shape.overlap),
        state=ScheduleState(paused=shape.paused, note=shape.note),
    )


def schedule_upsert(schema: str, config: WorkflowConfig, *, task_queue: str | None = None) -> str:
    """Creates the config's schedule, or replaces an existing one with it (paused when the config is disabled).
    Idempotent; returns "created" or "updated"."""
    if not config.schedule_cron:
        raise ValueError("a manual-only configuration has no schedule")
    schedule = _schedule(schema, config, desired_shape(schema, config, task_queue=task_queue))
    sid = schedule_id(schema, config.pk)

    async def go(client: Client) -> str:
        try:
            await client.create_schedule(sid, schedule, rpc_timeout=RPC_TIMEOUT)
            return "created"
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(sid).update(
                lambda _input: ScheduleUpdate(schedule=schedule), rpc_timeout=RPC_TIMEOUT
            )
            return "updated"

    return _call(go)


def schedule_delete(schema: str, config_id: int) -> bool:
    """Deletes the schedule; False when there was none. Runs it already started are not touched."""
    return schedule_delete_id(schedule_id(schema, config_id))


def schedule_delete_id(sid: str) -> bool:
    async def go(client: Client) -> None:
        await client.get_schedule_handle(sid).delete(rpc_timeout=RPC_TIMEOUT)

    try:
        _call(go)
    except WorkflowGone:
        return False
    return True


def schedule_trigger(schema: str, config_id: int) -> None:
    """Runs the schedule's action now (its overlap policy applies)."""

    async def go(client: Client) -> None:
        await client.get_schedule_handle(schedule_id(schema, config_id)).trigger(rpc_timeout=RPC_TIMEOUT)

    _call(go)


def _shape_of(description, converter) -> Awaitable[ScheduleShape | None]:
    async def go() -> ScheduleShape | None:
        action = description.schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow):
            return None
        args = await converter.decode(action.args) if action.args else []
        return ScheduleShape(
            workflow=action.workflow,
            input=args[0] if len(args) == 1 else {"args": args},
            task_queue=action.task_queue,
            time_zone=description.schedule.spec.time_zone_name or "",
            overlap=description.schedule.policy.overlap,
            paused=description.schedule.state.paused,
            note=description.schedule.state.note or "",
        )

    return go()


def schedule_describe(schema: str, config_id: int) -> dict | None:
    """The schedule as Temporal sees it (None when it does not exist): paused, next action times (UTC), actions
    taken and the recent ones, plus the shape used to detect drift."""

    async def go(client: Client) -> dict:
        description = await client.get_schedule_handle(schedule_id(schema, config_id)).describe(rpc_timeout=RPC_TIMEOUT)
        return {
            "id": description.id,
            "paused": description.schedule.state.paused,
            "note": description.schedule.state.note or "",
            "next_action_times": list(description.info.next_action_times),
            "num_actions": description.info.num_actions,
            "recent_actions": [
                {
                    "scheduled_at": action.scheduled_at,
                    "workflow_id": getattr(action.action, "workflow_id", ""),
                }
                for action in description.info.recent_actions
            ],
            "running_workflow_ids": [getattr(w, "workflow_id", "") for w in description.info.running_actions],
            "shape": await _shape_of(description, client.data_converter),
        }

    try:
        return _call(go)
    except WorkflowGone:
        return None


def schedule_ids(prefix: str = SCHEDULE_PREFIX) -> list[str]:
    """Every schedule id in the namespace starting with `prefix`."""

    async def go(client: Client) -> list[str]:
        found = []
        async for entry in await client.list_schedules():
            if entry.id.startswith(prefix):
                found.append(entry.id)
        return found

    return _call(go)
