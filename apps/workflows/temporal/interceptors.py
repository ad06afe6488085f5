"""The tenant in a Temporal header, from the call that starts work to every activity it runs.

- `TenantClientInterceptor` (installed by `bizosaas.temporal.connect`) adds the header `bizosaas-tenant` to workflow
  starts, signals and schedule actions. The schema comes from the workflow input dict's "schema"; a signal without
  one carries the caller's current tenant schema (django-tenants), when it is not the public schema.
- `TenantWorkerInterceptor` (installed by `build_worker`): a workflow keeps the header it was started with (or, when
  started without one, its input's "schema") and passes it on to its activities, child workflows and
  continue-as-new; a signal that names another tenant is dropped. An activity whose input names a different schema
  than its header is refused, non-retryable, before it runs (so it never touches the database); otherwise
  `current_schema()` gives the header's schema while it runs.

Workflow-side classes run in the workflow sandbox: this module imports only the standard library and temporalio at
module level. Payloads use the default payload converter.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import temporalio.client
import temporalio.converter
import temporalio.worker
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError

HEADER = "bizosaas-tenant"
MISMATCH = "TenantMismatch"

_current_schema: contextvars.ContextVar[str | None] = contextvars.ContextVar("bizosaas_tenant_schema", default=None)


def current_schema() -> str | None:
    """The tenant schema of the running activity, from its header (None outside an activity or without one)."""
    return _current_schema.get()


def encode(schema: str) -> Payload:
    return temporalio.converter.default().payload_converter.to_payloads([schema])[0]


def decode(headers: Mapping[str, Payload] | None) -> str | None:
    payload = (headers or {}).get(HEADER)
    if payload is None:
        return None
    value = temporalio.converter.default().payload_converter.from_payloads([payload])[0]
    return value if isinstance(value, str) and value else None


def with_schema(headers: Mapping[str, Payload] | None, schema: str | None) -> Mapping[str, Payload]:
    if not schema:
        return headers or {}
    return {**(headers or {}), HEADER: encode(schema)}


def input_schema(args: Sequence[Any]) -> str | None:
    """The "schema" of a workflow or activity input (the contract's first argument): a dict's key, or the field of
    a template's WorkflowInput."""
    first = args[0] if args else None
    value = first.get("schema") if isinstance(first, dict) else getattr(first, "schema", None)
    return value if isinstance(value, str) and value else None


# --- client ---------------------------------------------------------------------------------------------------


def _caller_schema() -> str | None:
    """The tenant schema the calling code is in (django-tenants), for calls whose input does not name one."""
    try:
        from django.db import connection
    except ImportError:  # pragma: no cover - the client is always used from the project
        return None
    schema = getattr(connection, "schema_name", None)
    from django.conf import settings

    return schema if schema and schema != getattr(settings, "PUBLIC_SCHEMA_NAME", "public") else None


def _tag_schedule_action(schedule: temporalio.client.Schedule) -> None:
    action = schedule.action
    if isinstance(action, temporalio.client.ScheduleActionStartWorkflow):
        schema = input_schema(action.args)
        if schema:
            action.headers = with_schema(action.headers, schema)


class _TenantClientOutbound(temporalio.client.OutboundInterceptor):
    async def start_workflow(self, input: temporalio.client.StartWorkflowInput):
        input.headers = with_schema(input.headers, input_schema(input.args))
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        input.headers = with_schema(input.headers, input_schema(input.args) or _caller_schema())
        return await super().signal_workflow(input)

    async def create_schedule(self, input: temporalio.client.CreateScheduleInput):
        _tag_schedule_action(input.schedule)
        return await super().create_schedule(input)

    async def update_schedule(self, input: temporalio.client.UpdateScheduleInput) -> None:
        updater = input.updater

        async def tagging(update_input):
            update = updater(update_input)
            if inspect.isawaitable(update):
                update = await update
            if update is not None:
                _tag_schedule_action(update.schedule)
            return update

        input.updater = tagging
        return await super().update_schedule(input)


class TenantClientInterceptor(temporalio.client.Interceptor):
    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _TenantClientOutbound(next)


# --- worker: activities ---------------------------------------------------------------------------------------


class _TenantActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        header, claimed = decode(input.headers), input_schema(input.args)
        if header and claimed and header != claimed:
            raise ApplicationError(
                f"The activity names tenant {claimed!r} but runs for tenant {header!r}; refused.",
                type=MISMATCH,
                non_retryable=True,
            )
        from bizosaas.observability import tenant_var  # outside the sandbox: activities only

        schema = header or claimed
        token = _current_schema.set(schema)
        log_token = tenant_var.set(schema or "-")  # the worker's log lines name the tenant
        try:
            # a sync activity runs in the executor with a copy of this context, so it sees the schema too
            return await super().execute_activity(input)
        finally:
            tenant_var.reset(log_token)
            _current_schema.reset(token)


# --- worker: workflows (sandboxed) ----------------------------------------------------------------------------


class _TenantWorkflowOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    def __init__(self, next: temporalio.worker.WorkflowOutboundInterceptor, inbound: _TenantWorkflowInbound) -> None:
        super().__init__(next)
        self._inbound = inbound

    def start_activity(self, input: temporalio.worker.StartActivityInput):
        input.headers = with_schema(input.headers, self._inbound.schema)
        return super().start_activity(input)

    def start_local_activity(self, input: temporalio.worker.StartLocalActivityInput):
        input.headers = with_schema(input.headers, self._inbound.schema)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: temporalio.worker.StartChildWorkflowInput):
        input.headers = with_schema(input.headers, input_schema(input.args) or self._inbound.schema)
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: temporalio.worker.SignalChildWorkflowInput) -> None:
        input.headers = with_schema(input.headers, self._inbound.schema)
        return await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: temporalio.worker.SignalExternalWorkflowInput) -> None:
        input.headers = with_schema(input.headers, self._inbound.schema)
        return await super().signal_external_workflow(input)

    def continue_as_new(self, input: temporalio.worker.ContinueAsNewInput) -> NoReturn:
        input.headers = with_schema(input.headers, self._inbound.schema)
        super().continue_as_new(input)


class _TenantWorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    schema: str | None = None

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_TenantWorkflowOutbound(outbound, self))

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        self.schema = decode(input.headers) or input_schema(input.args)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        sender = decode(input.headers)
        if sender and self.schema and sender != self.schema:
            workflow.logger.warning("Dropped signal %r from another tenant.", input.signal)
            return None
        return await super().handle_signal(input)


class TenantWorkerInterceptor(temporalio.worker.Interceptor):
    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _TenantActivityInbound(next)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _TenantWorkflowInbound
