"""Activities of the template workflows (apps.workflows.temporal.template_workflows): adapters that take the tenant
schema in their input, enter it, call our services and keep the WorkflowRun mirror up to date.

Each is safe to repeat: rows are found by the run they belong to, the agent run and the publish are recorded on the
WorkflowRun before an attempt is considered done, and a sync page commits its events and digests together.
Permanent failures (bad parameters, rejected credentials, a failed agent run) are raised non-retryable, with a
message a user can act on; a provider that is down is left to the activity's retry policy.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import close_old_connections, transaction
from django.db import connection as db
from django.utils import timezone
from django_tenants.utils import schema_context
from temporalio import activity
from temporalio.exceptions import ApplicationError

from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.accounts.quotas import QuotaExceeded, consume
from apps.agents.models import Agent, AgentRun
from apps.agents.runs import MAX_INPUT_CHARS, agent_runnable_errors
from apps.agents.runtime.runner import execute_run
from apps.connectors.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    NotFoundError,
    ProviderRequestError,
)
from apps.connectors.models import Connection
from apps.connectors.registry import registry
from apps.connectors.services import connection_perform, connection_read
from apps.integrations import dispatch
from apps.integrations.expressions import apply_mapping
from apps.integrations.models import ActionRun, RuleRun
from apps.integrations.queueing import event_emit
from apps.workflows.models import SyncRecord, WorkflowApproval, WorkflowConfig, WorkflowRun
from apps.workflows.temporal.activities import _tenant_scope
from apps.workflows.temporal.inputs import WorkflowInput
from bizosaas.metrics import WORKFLOW_RUNS

FINAL_STEP_STATUSES = frozenset({"completed", "failed", "skipped", "cancelled", "rejected", "expired"})
DATA_BUDGET = 15_000  # characters of records given to the agent (its input holds at most 20,000)
READ_PAGE = 100
HEARTBEAT_SECONDS = 10


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{key}: {' '.join(str(m) for m in messages)}" for key, messages in exc.message_dict.items())
    return " ".join(exc.messages)


@contextmanager
def _tenant(schema: str, *, bookkeeping: bool = False):
    """Enters the tenant's schema and turns our exceptions into Temporal's: permanent ones are not retried."""
    try:
        with _tenant_scope(schema, bookkeeping=bookkeeping):
            yield
    except ApplicationError:
        raise
    except ValidationError as exc:
        raise ApplicationError(_message(exc), type="ValidationError", non_retryable=True) from None
    except ObjectDoesNotExist as exc:
        raise ApplicationError(f"Not found: {exc}", type="NotFound", non_retryable=True) from None
    except (AuthenticationError, ConfigurationError, NotFoundError, ProviderRequestError) as exc:
        raise ApplicationError(exc.message, type=type(exc).__name__, non_retryable=True) from None
    except ConnectorError as exc:
        delay = timedelta(seconds=min(exc.retry_after, 600)) if exc.retry_after else None
        raise ApplicationError(exc.message, type=type(exc).__name__, next_retry_delay=delay) from None
    finally:
        db.close()  # activity threads come and go; never leave their connections behind


def _tenant_row(schema: str):
    return Tenant.objects.get(schema_name=schema)


def _locked_run(payload: dict) -> WorkflowRun:
    return WorkflowRun.objects.select_for_update().get(pk=payload["run_pk"])


def _upsert_step(run: WorkflowRun, name: str, status: str, *, result=None, error: str = "") -> None:
    """One entry per step name, so a repeated activity updates its step instead of adding another."""
    now = timezone.now().isoformat()
    step = next((s for s in run.steps if s.get("name") == name), None)
    if step is None:
        step = {"name": name, "status": status, "started_at": now, "finished_at": None, "result": None, "error": ""}
        run.steps.append(step)
    step["status"] = status
    if result is not None:
        step["result"] = result
    if error:
        step["error"] = error[:1000]
    if status in FINAL_STEP_STATUSES and not step.get("finished_at"):
        step["finished_at"] = now


@activity.defn(name="workflows.start_record")
def start_record(input: WorkflowInput, workflow_id: str, run_id: str) -> int:
    """The WorkflowRun of this execution (created by the services side already, or here), marked running."""
    with _tenant(input.schema):
        config = WorkflowConfig.objects.filter(pk=input.config_id).first() if input.config_id else None
        with transaction.atomic():
            run, created = WorkflowRun.objects.select_for_update().get_or_create(
                workflow_id=workflow_id,
                defaults={
                    "config": config,
                    "template": input.template,
                    "temporal_run_id": run_id,
                    "trigger": input.trigger or WorkflowRun.Trigger.MANUAL,
                    "parameters": input.params or {},
                    "created_by_id": input.user_id,
                },
            )
            if not created and run.temporal_run_id != run_id:
                # a new execution under the same id (a reset or a retried run): it starts over
                run.temporal_run_id = run_id
                run.status = WorkflowRun.Status.RUNNING
                run.error = ""
                run.finished_at = None
                run.save(update_fields=["temporal_run_id", "status", "error", "finished_at"])
        return run.pk


@activity.defn(name="workflows.record_step")
def record_step(payload: dict) -> None:
    """A step's status (and result or error); optionally the run's status and an approval's decision."""
    with _tenant(payload["schema"], bookkeeping=True), transaction.atomic():
        run = _locked_run(payload)
        _upsert_step(
            run, payload["name"], payload["status"], result=payload.get("result"), error=payload.get("error", "")
        )
        fields = ["steps"]
        if payload.get("run_status"):
            run.status = payload["run_status"]
            fields.append("status")
        decision = payload.get("approval")
        if decision:
            WorkflowApproval.objects.filter(
                run=run, step=decision["step"], status=WorkflowApproval.Status.PENDING
            ).update(
                status=decision["status"],
                decided_at=timezone.now(),
                decided_by_id=decision.get("user_id"),
                comment=(decision.get("comment") or "")[:500],
            )
        run.save(update_fields=fields)


@activity.defn(name="workflows.read_source")
def read_source(payload: dict) -> dict:
    """Up to max_records of the source resource, compacted for the agent (empty fields left out, at most
    DATA_BUDGET characters), with the report's window and title."""
    with _tenant(payload["schema"]):
        tenant = _tenant_row(payload["schema"])
        run = WorkflowRun.objects.select_related("config").get(pk=payload["run_pk"])
        connection = Connection.objects.get(pk=payload["connection_id"])
        resource, wanted = payload["resource"], int(payload["max_records"])
        zone = ZoneInfo(run.config.timezone if run.config else "UTC")
        until = datetime.fromisoformat(payload["now"]).astimezone(zone).date()
        days = int(payload["window_days"])
        since = until - timedelta(days=days)
        spec = registry.get(connection.provider)
        resource_spec = spec.resource(resource) if spec is not None else None
        # 0 days reads without a date filter; so does a configuration saved before its resource could be filtered
        filtered = days > 0 and resource_spec is not None and bool(resource_spec.window)
        window = {"since": since, "until": until} if filtered else {}
        records: list[dict] = []
        cursor, pages = None, 0
        while len(records) < wanted:
            page, _cached = connection_read(
                connection=connection,
                resource=resource,
                cursor=cursor,
                limit=min(READ_PAGE, wanted - len(records)),
                fresh=True,
                tenant=tenant,
                **window,
            )
            records.extend(record.data for record in page.records)
            pages += 1
            activity.heartbeat({"pages": pages, "records": len(records)})
            cursor = page.next_cursor
            if not cursor or not page.records:
                break
        records = records[:wanted]
        lines: list[str] = []
        used = 0
        for record in records:
            line = json.dumps({k: v for k, v in record.items() if v is not None}, default=str, separators=(",", ":"))
            if used + len(line) + 1 > DATA_BUDGET:
                break
            lines.append(line)
            used += len(line) + 1
        label = run.config.name if run.config else "Connector report"
        return {
            "count": len(records),
            "shown": len(lines),
            "data": "\n".join(lines),
            "resource": resource,
            "connection": f"{connection.name} ({connection.provider})",
            "since": since.isoformat(),
            "until": until.isoformat(),
            "filtered": filtered,
            "title": f"{label} — {until.isoformat()}",
        }


def _analysis_input(instructions: str, source: dict | None) -> str:
    if not source:
        return instructions
    shown = source["shown"]
    note = "" if shown == source["count"] else f" (the first {shown} shown)"
    if source.get("filtered", True):
        period = f"for the period {source['since']} to {source['until']}"
    else:
        period = f"(not filtered by date; report date {source['until']})"
    return (
        f"{instructions.strip()}\n\n"
        f"Data: {source['count']} {source['resource']} records from {source['connection']} {period}{note}, "
        f"one JSON object per line:\n{source['data']}"
    )


@contextmanager
def _heartbeating(schema: str, agent_run_id: int):
    """Heartbeats from a thread of its own while the agent runs on this one; when the workflow cancels the
    activity, the agent run is cancelled (the runner stops at its next step)."""
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            activity.heartbeat({"agent_run_id": agent_run_id})
            if activity.is_cancelled():
                try:
                    close_old_connections()
                    with schema_context(schema):
                        AgentRun.objects.filter(
                            pk=agent_run_id, status__in=[AgentRun.Status.QUEUED, AgentRun.Status.RUNNING]
                        ).update(
                            status=AgentRun.Status.CANCELLED,
                            error="Cancelled with its workflow run.",
                            finished_at=timezone.now(),
                        )
                finally:
                    db.close()
                return

    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@activity.defn(name="workflows.analyse")
def analyse(payload: dict) -> dict:
    """Runs the agent once per WorkflowRun: a succeeded agent run recorded on the WorkflowRun is reused, a queued one
    is executed, one left running by a lost worker is failed and replaced."""
    schema = payload["schema"]
    with _tenant(schema):
        with transaction.atomic():
            run = _locked_run(payload)
            agent_run = AgentRun.objects.filter(pk=run.agent_run_id).first() if run.agent_run_id else None
            if agent_run is None and payload.get("agent_run_id"):
                agent_run = AgentRun.objects.get(pk=payload["agent_run_id"])
            if agent_run is not None and agent_run.status == AgentRun.Status.RUNNING:
                # this activity's previous attempt died with it (heartbeats stopped): that run will never finish
                AgentRun.objects.filter(pk=agent_run.pk, status=AgentRun.Status.RUNNING).update(
                    status=AgentRun.Status.FAILED,
                    error="The worker executing this run stopped before it finished.",
                    finished_at=timezone.now(),
                )
                agent_run = None
            elif agent_run is not None and agent_run.status in (AgentRun.Status.FAILED, AgentRun.Status.CANCELLED):
                if payload.get("resuming"):  # it ended while waiting for an approval (expired, cancelled)
                    raise ApplicationError(
                        f"The agent run {agent_run.status}: {agent_run.error or 'no reason given'}",
                        type="AgentRunFailed",
                        non_retryable=True,
                    )
                agent_run = None  # a reset run analyses again
            if agent_run is None:
                agent = Agent.objects.select_related("provider").get(pk=payload["agent_id"])
                errors = agent_runnable_errors(agent)
                text = _analysis_input(payload.get("instructions") or "", payload.get("source"))[:MAX_INPUT_CHARS]
                if not text.strip():
                    errors.setdefault("input", ["Say what the agent should do."])
                if errors:
                    raise ValidationError(errors)
                try:
                    consume(schema, "agent_runs_per_day")
                except QuotaExceeded as exc:  # retrying within the day cannot help: the run fails with the reason
                    raise ApplicationError(exc.detail, type="QuotaExceeded", non_retryable=True) from None
                agent_run = AgentRun.objects.create(
                    agent=agent,
                    input=text,
                    source="workflow",
                    model=(agent.model or agent.provider.default_model)[:200],  # type: ignore[union-attr]
                    created_by_id=payload.get("user_id"),
                )
            if run.agent_run_id != agent_run.pk:
                run.agent_run = agent_run
                run.save(update_fields=["agent_run"])
        if agent_run.status == AgentRun.Status.QUEUED:
            with _heartbeating(schema, agent_run.pk), activity.shield_thread_cancel_exception():
                execute_run(agent_run.pk)
            agent_run.refresh_from_db()
        if agent_run.status == AgentRun.Status.WAITING_APPROVAL:  # the workflow asks again after a timer
            return {"agent_run_id": agent_run.pk, "waiting": True}
        if agent_run.status != AgentRun.Status.SUCCEEDED:
            raise ApplicationError(
                f"The agent run {agent_run.status}: {agent_run.error or 'no reason given'}",
                type="AgentRunFailed",
                non_retryable=True,
            )
        return {"agent_run_id": agent_run.pk, "output": agent_run.output}


@activity.defn(name="workflows.request_approval")
def request_approval(payload: dict) -> dict:
    """A pending approval of what would be published (the mapped action input); the run waits for it."""
    with _tenant(payload["schema"]), transaction.atomic():
        run = _locked_run(payload)
        preview, _missing = apply_mapping(payload["mapping"], payload["context"])
        approval, _created = WorkflowApproval.objects.get_or_create(
            run=run,
            step=payload["step"],
            defaults={
                "preview": {"action": payload["action"], "input": preview},
                "expires_at": datetime.fromisoformat(payload["expires_at"]),
            },
        )
        if approval.status == WorkflowApproval.Status.PENDING:
            _upsert_step(run, "approval", "waiting", result={"approval_id": approval.pk})
            run.status = WorkflowRun.Status.WAITING_APPROVAL
            run.save(update_fields=["steps", "status"])
        return {"approval_id": approval.pk, "status": approval.status}


@activity.defn(name="workflows.publish")
def publish(payload: dict) -> dict:
    """Performs the destination action with the mapped input, once: a publish recorded on the run is returned
    as it is. The run's row stays locked during the call, so two attempts never publish side by side."""
    with _tenant(payload["schema"]), transaction.atomic():
        run = _locked_run(payload)
        if isinstance(run.result, dict) and run.result.get("publish"):
            return run.result["publish"]
        connection = Connection.objects.get(pk=payload["connection_id"])
        data, _missing = apply_mapping(payload["mapping"], payload["context"])  # a required field missing: refused
        outcome = connection_perform(
            tenant=_tenant_row(payload["schema"]),
            actor=Actor.system(f"workflow run {run.pk}"),
            connection=connection,
            action=payload["action"],
            payload=data,
        )
        outcome = outcome or {}
        published = {
            "connection_id": connection.pk,
            "action": payload["action"],
            "id": str(outcome["id"]) if outcome.get("id") is not None else None,
            "status": outcome.get("status"),
            "url": outcome.get("url"),
        }
        run.result = {**(run.result if isinstance(run.result, dict) else {}), "publish": published}
        run.save(update_fields=["result"])
        return published


@activity.defn(name="workflows.finish")
def finish(payload: dict) -> dict:
    """The run's final status, result and error; steps still open are closed and pending approvals expire."""
    with _tenant(payload["schema"], bookkeeping=True), transaction.atomic():
        run = _locked_run(payload)
        status, error = payload["status"], payload.get("error") or ""
        for step in run.steps:
            if step.get("status") in ("running", "waiting"):
                _upsert_step(
                    run, step["name"], "cancelled" if status == WorkflowRun.Status.CANCELLED else "failed", error=error
                )
        if status != WorkflowRun.Status.COMPLETED:
            WorkflowApproval.objects.filter(run=run, status=WorkflowApproval.Status.PENDING).update(
                status=WorkflowApproval.Status.EXPIRED, decided_at=timezone.now()
            )
        counted = run.finished_at is not None  # a cancel counted it already; a retried activity must not again
        run.status = status
        run.error = error[:1000]
        run.result = {**(run.result if isinstance(run.result, dict) else {}), **(payload.get("result") or {})}
        run.finished_at = run.finished_at or timezone.now()
        run.save(update_fields=["steps", "status", "error", "result", "finished_at"])
    if not counted:
        WORKFLOW_RUNS.labels(template=run.template, status=run.status).inc()
    return {"status": run.status}


def record_digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


@activity.defn(name="workflows.sync_page")
def sync_page(payload: dict) -> dict:
    """One page of the resource compared with what the last runs saw: `<provider>.<resource>.created` / `.updated`
    events for new and changed records, committed with their new digests (a repeated page emits nothing)."""
    with _tenant(payload["schema"]):
        if not payload.get("config_id"):
            raise ApplicationError(
                "A connection sync needs a saved configuration: it remembers what it saw per configuration.",
                type="ValidationError",
                non_retryable=True,
            )
        config = WorkflowConfig.objects.get(pk=payload["config_id"])
        connection = Connection.objects.get(pk=payload["connection_id"])
        resource, cursor = payload["resource"], payload.get("cursor")
        if payload.get("first") and not cursor:
            previous = (
                WorkflowRun.objects.filter(config=config, status=WorkflowRun.Status.COMPLETED)
                .exclude(pk=payload["run_pk"])
                .order_by("-started_at", "-id")
                .first()
            )
            cursor = ((previous.result or {}).get("resume_cursor") if previous else None) or None
        page, _cached = connection_read(
            connection=connection,
            resource=resource,
            cursor=cursor,
            limit=int(payload["page_size"]),
            fresh=True,
            tenant=_tenant_row(payload["schema"]),
        )
        totals = dict(payload["totals"])
        with transaction.atomic():
            run = _locked_run(payload)
            known = dict(
                SyncRecord.objects.filter(
                    config=config, resource=resource, record_id__in=[record.id for record in page.records]
                ).values_list("record_id", "digest")
            )
            for record in page.records:
                digest = record_digest(record.data)
                previous_digest = known.get(record.id)
                if previous_digest == digest:
                    continue
                change = "created" if previous_digest is None else "updated"
                event_emit(
                    f"{connection.provider}.{resource}.{change}",
                    {"resource": resource, "record_id": record.id, "change": change, "record": record.data},
                    connection=connection,
                )
                SyncRecord.objects.update_or_create(
                    config=config, resource=resource, record_id=record.id, defaults={"digest": digest}
                )
                known[record.id] = digest
                totals[change] += 1
            totals["pages"] += 1
            totals["records"] += len(page.records)
            next_cursor = page.next_cursor if page.records else None
            _upsert_step(run, "sync", "running", result={**totals, "cursor": next_cursor})
            run.save(update_fields=["steps"])
        activity.heartbeat(totals)
        return {"next_cursor": next_cursor, "totals": totals}


@activity.defn(name="workflows.rule_action_step")
def rule_action_step(payload: dict) -> dict:
    """Advances a durable rule's actions by one: performs the next due action (at most once, through the same
    claim the task queue uses), or says how long to wait, or that the rule run is over."""
    with _tenant(payload["schema"]):
        rule_run = RuleRun.objects.get(pk=payload["rule_run_id"])
        now = timezone.now()
        for action in ActionRun.objects.filter(rule_run=rule_run).order_by("position"):
            if action.status == ActionRun.Status.SUCCEEDED:
                continue
            if action.status in (ActionRun.Status.FAILED, ActionRun.Status.SKIPPED):
                rule_run.refresh_from_db()
                return {"state": "failed", "error": rule_run.error or action.error}
            if action.status == ActionRun.Status.PENDING and action.next_attempt_at and action.next_attempt_at > now:
                return {"state": "wait", "seconds": (action.next_attempt_at - now).total_seconds()}
            if action.status != ActionRun.Status.PENDING:  # running elsewhere, or about to become due
                return {"state": "wait", "seconds": 2.0}
            dispatch.action_run_perform(action.pk, durable=True)
            action.refresh_from_db()
            return {"state": "progress", "position": action.position, "status": action.status}
        return {"state": "done"}


ACTIVITIES: list[Callable[..., Any]] = [
    start_record,
    record_step,
    read_source,
    analyse,
    request_approval,
    publish,
    finish,
    sync_page,
    rule_action_step,
]
