"""Approvals before actions: a connector action whose grant says `ask` (or any write of a run a rule started,
unless the grant allows unattended writes from rules) is not performed until a person decides.

An approval is a row in the tenant schema; the row is the promise. A paused agent run keeps what it needs to go on
in PostgreSQL (AgentRun.resume_state) and holds no worker; deciding re-queues it through the normal run path. An
approval without a run (an MCP tool call) is performed by the executor its source registered, when approved.
Pending approvals are indexed publicly by expiry (a trigger), so the expiry sweep visits only the schemas owing one.

Every function runs in the caller's tenant schema, except `expire_due` (the sweep), which enters each schema owed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Min, OuterRef, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.audit.services import Actor, audit_record, redact
from apps.accounts.models import Tenant, active_tenant_exists
from apps.agents.models import AgentApproval, AgentRun, RunStep, ToolGrant
from apps.agents.runs import run_fail_waiting, run_requeue
from apps.connectors.registry import registry
from apps.integrations.queueing import event_emit
from apps.integrations.routing.models import PendingWork
from bizosaas.metrics import AGENT_APPROVALS

logger = logging.getLogger(__name__)

ALLOW, ASK = "allow", "ask"
POLICIES = (ALLOW, ASK)
EVENT_REQUESTED = "bizosaas.approval.requested"
EXPIRED_REASON = "Approval expired"
WAIT_POLL_SECONDS = 0.2
WAIT_MAX_SECONDS = 60.0  # approval_wait never blocks longer, whatever it is asked
SWEEP_BATCH = 500

_executors: dict[str, Callable[[AgentApproval], Any]] = {}


class ApprovalConflict(Exception):
    """The approval was already decided (or expired): a 409 with the state it is in."""

    def __init__(self, approval: AgentApproval):
        self.approval = approval
        super().__init__(f"This approval is already {approval.status}.")


# --- the seam ------------------------------------------------------------------------------------------------


def action_policy(*, grant: ToolGrant, action: str, started_by_rule: bool) -> str:
    """ "ask" when the grant asks for this action, or when a rule started the run (it acts on data an outsider
    wrote) and the grant does not allow unattended writes from rules; "allow" otherwise. Connector actions are
    writes."""
    if (grant.action_policies or {}).get(action) == ASK:
        return ASK
    if started_by_rule and not grant.allow_unattended_from_rules:
        return ASK
    return ALLOW


def register_approval_executor(source: str, fn: Callable[[AgentApproval], Any]) -> None:
    """`fn(approval)` performs an approved action of an approval without a run (source "mcp"); what it returns is
    stored as the approval's result, what it raises as its error. Registered once, at start-up (AppConfig.ready)."""
    if source not in AgentApproval.Source.values:
        raise ValueError(f"unknown approval source {source!r}")
    _executors[source] = fn


def _actor_for_request(*, agent, run, actor_label: str) -> Actor:
    if actor_label:
        return Actor.system(actor_label)
    if run is not None:
        return Actor.system(f"agent {run.agent_id} (run {run.pk})")
    return Actor.system(f"agent {agent.pk}" if agent is not None else "approval")


def approval_request(
    *,
    tenant: Tenant,
    connection,
    action: str,
    proposed_input: dict,
    reason: str,
    source: str,
    agent=None,
    run=None,
    actor_label: str = "",
    requested_by_user_id: int | None = None,
) -> AgentApproval:
    """Records a pending approval (expiring after AGENT_APPROVAL_EXPIRY_MINUTES), raises the
    `bizosaas.approval.requested` event and audits the request, in one transaction."""
    if source not in AgentApproval.Source.values:
        raise ValueError(f"unknown approval source {source!r}")
    if requested_by_user_id is None and run is not None:
        requested_by_user_id = run.created_by_id
    with transaction.atomic():
        approval = AgentApproval.objects.create(
            source=source,
            agent=agent if agent is not None else (run.agent if run is not None else None),
            run=run,
            connection=connection,
            action=action[:100],
            proposed_input=proposed_input if isinstance(proposed_input, dict) else {},
            reason=(reason or "")[:4000],
            actor_label=actor_label[:255],
            requested_by_user_id=requested_by_user_id,
            expires_at=timezone.now() + timedelta(minutes=settings.AGENT_APPROVAL_EXPIRY_MINUTES),
        )
        event_emit(EVENT_REQUESTED, event_payload(approval), external_id=f"approval:{approval.pk}")
        audit_record(
            tenant=tenant,
            actor=_actor_for_request(agent=approval.agent, run=run, actor_label=actor_label),
            action="approval.requested",
            obj=approval,
            changes={
                "source": source,
                "connection": connection.pk,
                "action": action,
                "run": run.pk if run is not None else None,
                "input": approval.proposed_input,
            },
        )
    AGENT_APPROVALS.labels(source=source, outcome="requested").inc()
    return approval


def approval_wait(*, approval_id, timeout: float) -> AgentApproval:
    """The approval once decided (or expired), or as it is after `timeout` seconds (at most WAIT_MAX_SECONDS).
    Polls PostgreSQL: nothing is held but this caller's time."""
    ends = time.monotonic() + max(0.0, min(float(timeout), WAIT_MAX_SECONDS))
    while True:
        approval = AgentApproval.objects.get(pk=approval_id)
        if approval.status != AgentApproval.Status.PENDING:
            return approval
        if approval.expires_at <= timezone.now():
            return approval_expire(approval=approval)
        left = ends - time.monotonic()
        if left <= 0:
            return approval
        time.sleep(min(WAIT_POLL_SECONDS, left))


def event_payload(approval: AgentApproval) -> dict:
    return {
        "approval_id": str(approval.pk),
        "source": approval.source,
        "agent": {"id": approval.agent_id, "name": approval.agent.name} if approval.agent_id else None,  # type: ignore[union-attr]
        "run_id": approval.run_id,
        "connection": {"id": approval.connection_id, "name": approval.connection.name},
        "action": approval.action,
        "proposed_input": redact(approval.proposed_input),
        "reason": approval.reason,
        "requested_by": approval.actor_label,
        "expires_at": approval.expires_at.isoformat(),
    }


# --- deciding ------------------------------------------------------------------------------------------------


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "user" and str(actor.id).isdigit() else None


def starter_may_not_decide(*, tenant: Tenant, actor: Actor, started_by_user_id: int | None) -> None:
    """PermissionDenied when the tenant requires a different approver and `actor` is the person who started it."""
    if not tenant.approver_must_differ or started_by_user_id is None:
        return
    if _user_id(actor) == started_by_user_id:
        raise PermissionDenied(
            "You started this run, and this organisation requires someone else to approve its actions."
        )


def clean_input(*, connection, action: str, value: Any) -> dict:
    """The input checked against the action's input schema; ValidationError with `input.<field>` keys."""
    if not isinstance(value, dict):
        raise ValidationError({"input": ["Must be an object with the action's input fields."]})
    spec = registry.get(connection.provider)
    action_spec = spec.action(action) if spec is not None else None
    if action_spec is None:
        raise ValidationError({"action": [f"The connector no longer offers the action {action!r}."]})
    try:
        action_spec.clean(value)
    except ValidationError as exc:
        raise ValidationError({f"input.{key}": messages for key, messages in exc.message_dict.items()}) from None
    return value


def _locked_pending(approval: AgentApproval) -> AgentApproval:
    locked = (
        AgentApproval.objects.select_for_update(of=("self",))
        .select_related("run", "connection", "agent")
        .get(pk=approval.pk)
    )
    if locked.status != AgentApproval.Status.PENDING:
        raise ApprovalConflict(locked)
    return locked


def _started_by(approval: AgentApproval) -> int | None:
    """Who started what asks: the run's starter, or the person behind an MCP call."""
    return approval.run.created_by_id if approval.run is not None else approval.requested_by_user_id


def _input_diff(before: dict, after: dict) -> dict:
    keys = sorted(set(before) | set(after))
    return {key: [before.get(key), after.get(key)] for key in keys if before.get(key) != after.get(key)}


def _run_step(run_id: int, *, tool: str, arguments: dict, summary: str) -> None:
    last = RunStep.objects.filter(run_id=run_id).aggregate(last=Max("position"))["last"] or 0
    RunStep.objects.create(
        run_id=run_id,
        position=last + 1,
        kind=RunStep.Kind.APPROVAL,
        tool=tool[:100],
        arguments=arguments,
        result_summary=summary[:2000],
    )


def approval_approve(*, tenant: Tenant, actor: Actor, approval: AgentApproval, input: Any = None) -> AgentApproval:
    """Approves as proposed or with edited `input` (checked against the action's input schema: ValidationError,
    nothing changed). A run's action is then performed by its resumed run; an approval without a run is performed
    now by its source's executor, its result or error stored on it. ApprovalConflict when already decided."""
    approval_expire(approval=approval)  # committed first: one past its time stays expired when refused below
    with transaction.atomic():
        locked = _locked_pending(approval)
        starter_may_not_decide(tenant=tenant, actor=actor, started_by_user_id=_started_by(locked))
        final = locked.proposed_input if input is None else input
        final = clean_input(connection=locked.connection, action=locked.action, value=final)
        changed = _input_diff(locked.proposed_input, final)
        locked.status = AgentApproval.Status.APPROVED
        locked.final_input = final
        locked.decided_by_user_id = _user_id(actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "final_input", "decided_by_user_id", "decided_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="approval.approved",
            obj=locked,
            changes={"action": locked.action, "run": locked.run_id, "edited": bool(changed), "input": changed},
        )
        if locked.run_id is not None:
            label = actor.label or actor.type
            _run_step(
                locked.run_id,
                tool=locked.action,
                arguments=final,
                summary=f"Approved by {label}" + (" with edited input." if changed else " as proposed."),
            )
            _resume(locked, decision={"approval": str(locked.pk), "decision": "approved", "input": final})
    AGENT_APPROVALS.labels(source=locked.source, outcome="approved").inc()
    if locked.run_id is None:
        _execute(locked)
    return locked


def approval_reject(*, tenant: Tenant, actor: Actor, approval: AgentApproval, comment: str = "") -> AgentApproval:
    """Rejects; nothing is performed. A paused run goes on, its model told of the rejection and the comment."""
    comment = (comment or "").strip()[:1000]
    approval_expire(approval=approval)  # committed first, as in approval_approve
    with transaction.atomic():
        locked = _locked_pending(approval)
        starter_may_not_decide(tenant=tenant, actor=actor, started_by_user_id=_started_by(locked))
        locked.status = AgentApproval.Status.REJECTED
        locked.comment = comment
        locked.decided_by_user_id = _user_id(actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "comment", "decided_by_user_id", "decided_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="approval.rejected",
            obj=locked,
            changes={"action": locked.action, "run": locked.run_id, "comment": comment},
        )
        if locked.run_id is not None:
            label = actor.label or actor.type
            _run_step(
                locked.run_id,
                tool=locked.action,
                arguments={},
                summary=f"Rejected by {label}" + (f": {comment}" if comment else "."),
            )
            _resume(locked, decision={"approval": str(locked.pk), "decision": "rejected", "comment": comment})
    AGENT_APPROVALS.labels(source=locked.source, outcome="rejected").inc()
    return locked


def _execute(approval: AgentApproval) -> None:
    executor = _executors.get(approval.source)
    if executor is None:
        AgentApproval.objects.filter(pk=approval.pk).update(error="Nothing can perform actions of this source.")
        approval.error = "Nothing can perform actions of this source."
        return
    try:
        result = executor(approval)
    except ValidationError as exc:
        approval.error = "; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items())
    except Exception as exc:
        approval.error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if not isinstance(approval.error, str):
            approval.error = str(approval.error)
    else:
        approval.result = result if isinstance(result, dict | list) or result is None else {"value": str(result)}
    AgentApproval.objects.filter(pk=approval.pk).update(result=approval.result, error=approval.error[:10000])


def _resume(approval: AgentApproval, *, decision: dict) -> None:
    """The paused run is queued again with the decision; the worker performs the approved call (or tells the model
    of the rejection) before the model goes on. Queued once this transaction commits."""
    run = AgentRun.objects.select_for_update().get(pk=approval.run_id)  # type: ignore[misc]
    if run.status != AgentRun.Status.WAITING_APPROVAL:
        return  # still being paused (run_resume_if_decided then takes it), or cancelled meanwhile
    pending = (run.resume_state or {}).get("pending") or {}
    if pending.get("approval") != str(approval.pk):
        return
    run_requeue(run=run, resume_state={**(run.resume_state or {}), "decision": decision})


def run_resume_if_decided(*, run_id: int) -> None:
    """Called once a run's pause is recorded: a decision made while it was still pausing resumes it now."""
    with transaction.atomic():
        run = AgentRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != AgentRun.Status.WAITING_APPROVAL:
            return
        pending = (run.resume_state or {}).get("pending") or {}
        approval = AgentApproval.objects.filter(pk=pending.get("approval")).first()  # type: ignore[misc]
        if approval is None or approval.status == AgentApproval.Status.PENDING:
            return
        if approval.status == AgentApproval.Status.EXPIRED:
            run_fail_waiting(run_id=run.pk, error=_expired_reason(approval))
            return
        if approval.status == AgentApproval.Status.APPROVED:
            decision = {"approval": str(approval.pk), "decision": "approved", "input": approval.final_input or {}}
        else:
            decision = {"approval": str(approval.pk), "decision": "rejected", "comment": approval.comment}
        run_requeue(run=run, resume_state={**(run.resume_state or {}), "decision": decision})


def _expired_reason(approval: AgentApproval) -> str:
    return f"{EXPIRED_REASON}: nobody decided on {approval.action} in time."


# --- expiry --------------------------------------------------------------------------------------------------


def _expire_locked(approval: AgentApproval) -> None:
    approval.status = AgentApproval.Status.EXPIRED
    approval.decided_at = timezone.now()
    approval.save(update_fields=["status", "decided_at"])
    AGENT_APPROVALS.labels(source=approval.source, outcome="expired").inc()
    if approval.run_id is not None:
        run_fail_waiting(run_id=approval.run_id, error=_expired_reason(approval))


def approval_expire(*, approval: AgentApproval) -> AgentApproval:
    """Marks one pending approval past its expiry as expired and fails its run with the reason. Idempotent."""
    with transaction.atomic():
        locked = AgentApproval.objects.select_for_update().get(pk=approval.pk)
        if locked.status == AgentApproval.Status.PENDING and locked.expires_at <= timezone.now():
            _expire_locked(locked)
    return locked


def expire_schema(now=None) -> int:
    """Expires the current schema's pending approvals past their expiry (through the expires_at index)."""
    now = now or timezone.now()
    count = 0
    due = AgentApproval.objects.filter(status=AgentApproval.Status.PENDING, expires_at__lte=now)
    for approval in list(due.order_by("expires_at")[:SWEEP_BATCH]):
        if approval_expire(approval=approval).status == AgentApproval.Status.EXPIRED:
            count += 1
    return count


def expire_due(now=None) -> dict[str, int]:
    """The periodic sweep: the schemas owing an expiry come from the public index of owed work, never from a
    loop over every tenant schema."""
    now = now or timezone.now()
    rows = (
        PendingWork.objects.filter(
            Q(kind=PendingWork.Kind.APPROVAL, state="pending", at__lte=now),
            active_tenant_exists(OuterRef("schema_name")),
        )
        .values("schema_name")
        .annotate(oldest=Min("at"))
        .order_by("oldest")[: settings.SWEEP_MAX_SCHEMAS]
    )
    totals = {"schemas": 0, "expired": 0}
    for row in rows:
        totals["schemas"] += 1
        try:
            with schema_context(row["schema_name"]):
                totals["expired"] += expire_schema(now)
        except Exception:  # one schema's failure does not stop the others
            logger.exception("approval expiry failed", extra={"schema": row["schema_name"]})
    return totals
