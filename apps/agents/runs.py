"""Agent runs and conversations: start a run (queued, then executed by a worker), cancel it, keep conversations.

Every function runs in the caller's tenant schema. A run is only queued once its row is committed; the worker
(apps.agents.tasks) enters the schema named in the task and executes it (apps.agents.runtime.runner).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts import quotas
from apps.accounts.audit.services import Actor
from apps.accounts.models import Tenant
from apps.agents import llm_client
from apps.agents.models import Agent, AgentApproval, AgentRun, Conversation, Message
from apps.agents.services import NEEDS_API_KEY
from apps.integrations.queueing import event_emit
from bizosaas import durable, enqueue
from bizosaas.digits import ascii_digits
from bizosaas.metrics import AGENT_RUNS
from bizosaas.tenancy import current_schema

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = 20_000


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "user" and ascii_digits(str(actor.id)) else None


def agent_runnable_errors(agent: Agent) -> dict[str, list[str]]:
    """What must be configured before this agent can run; empty when it can."""
    if not agent.enabled:
        return {"agent": [f"The agent {agent.name!r} is disabled. Enable it in its settings to run it."]}
    provider = agent.provider
    if provider is None:
        return {
            "provider": [
                f"The agent {agent.name!r} has no LLM provider. Add an LLM provider (OpenAI, Anthropic, Azure OpenAI, "
                "Ollama or an OpenAI-compatible endpoint) and choose it in the agent's settings."
            ]
        }
    if provider.kind in NEEDS_API_KEY and not (provider.credentials or {}).get("api_key"):
        return {
            "provider": [
                f"The LLM provider {provider.name!r} ({provider.get_kind_display()}) has no API key. "
                "Set its API key in the provider's settings."
            ]
        }
    if not (agent.model or provider.default_model or "").strip():
        return {
            "model": [f"No model is set: choose one in the agent's settings or a default model for {provider.name!r}."]
        }
    return {}


def _enqueue(schema: str, run_id: int) -> None:
    """Hands the run to a worker. Never raises: when the broker is unreachable the run is failed with the reason
    instead of staying queued forever."""
    enqueue.send(
        "agents.execute_run",
        (schema, run_id),
        what=f"agent run {run_id}",
        on_failure=lambda _exc: _unqueued(schema, run_id),
    )


def _unqueued(schema: str, run_id: int) -> None:
    from django_tenants.utils import schema_context

    with schema_context(schema):
        failed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.QUEUED).update(
            status=AgentRun.Status.FAILED,
            error="The run could not be queued (the task queue is unavailable). Try again shortly.",
            finished_at=timezone.now(),
        )
    if failed:
        AGENT_RUNS.labels(status=AgentRun.Status.FAILED).inc()


@transaction.atomic
def run_create(
    *,
    tenant: Tenant,
    actor: Actor,
    agent: Agent,
    input: str,
    conversation: Conversation | None = None,
    source: str = "api",
) -> AgentRun:
    """Validates that the agent can run, counts it against the tenant's agent runs per day (QuotaExceeded over
    it, nothing recorded), records the run (queued) and, in a conversation, the user's message; the run is queued
    for a worker once this transaction commits."""
    errors = agent_runnable_errors(agent)
    text = (input or "").strip()
    if not text:
        errors.setdefault("input", ["Say what the agent should do."])
    elif len(text) > MAX_INPUT_CHARS:
        errors.setdefault("input", [f"At most {MAX_INPUT_CHARS} characters."])
    if conversation is not None and conversation.agent_id != agent.pk:
        errors.setdefault("conversation", ["This conversation belongs to another agent."])
    if errors:
        raise ValidationError(errors)
    quotas.consume(tenant, "agent_runs_per_day")
    run = AgentRun.objects.create(
        agent=agent,
        conversation=conversation,
        input=text,
        source=source,
        model=(agent.model or agent.provider.default_model)[:200],  # type: ignore[union-attr]
        created_by_id=_user_id(actor),
    )
    if conversation is not None:
        Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text, run=run)
        fields: dict[str, Any] = {"updated_at": timezone.now()}
        if not conversation.title:
            fields["title"] = text[:80]
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
    schema = current_schema()
    if agent.max_execution_time > settings.AGENT_DURABLE_AFTER_SECONDS:
        transaction.on_commit(lambda: _start_durable(tenant, actor, schema, run))
    else:
        transaction.on_commit(lambda: _enqueue(schema, run.pk))
    return run


def _start_durable(tenant: Tenant, actor: Actor, schema: str, run: AgentRun) -> None:
    """Long runs go to Temporal (the `agent_run` workflow); if Temporal cannot take it, Celery does."""
    from django_tenants.utils import schema_context

    with schema_context(schema):
        durable.start_or_queue(
            durable.AGENT_RUN,
            lambda: _enqueue(schema, run.pk),
            what=f"agent run {run.pk}",
            tenant=tenant,
            actor=actor,
            agent_run=run,
        )


def run_requeue(*, run: AgentRun, resume_state: dict) -> None:
    """A run paused for an approval goes on: queued again with what it needs to resume (a fresh worker picks it
    up, or the durable run's workflow, which polls while it waits). Call inside a transaction, the run locked."""
    updated = AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.WAITING_APPROVAL).update(
        status=AgentRun.Status.QUEUED, resume_state=resume_state
    )
    if not updated:
        return
    schema = current_schema()
    if _durable_workflow_waits(run):
        return
    transaction.on_commit(lambda: _enqueue(schema, run.pk))


def _durable_workflow_waits(run: AgentRun) -> bool:
    """Whether a Temporal workflow (the durable `agent_run`) owns this run: it resumes the run itself."""
    return durable.running(durable.AGENT_RUN, agent_run_id=run.pk)


def run_fail_waiting(*, run_id: int, error: str) -> bool:
    """Fails a run waiting for an approval (the approval expired); False when it no longer waits."""
    failed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.WAITING_APPROVAL).update(
        status=AgentRun.Status.FAILED, error=error[:1000], finished_at=timezone.now(), resume_state=None
    )
    if failed:
        AGENT_RUNS.labels(status=AgentRun.Status.FAILED).inc()
    return bool(failed)


@transaction.atomic
def run_cancel(*, tenant: Tenant, actor: Actor, run: AgentRun) -> AgentRun:
    """Cancels a queued, running or waiting run (a running one stops at its next step, within about a second)."""
    label = actor.label or actor.type
    cancellable = [AgentRun.Status.QUEUED, AgentRun.Status.RUNNING, AgentRun.Status.WAITING_APPROVAL]
    cancelled = AgentRun.objects.filter(pk=run.pk, status__in=cancellable).update(
        status=AgentRun.Status.CANCELLED, error=f"Cancelled by {label}."[:1000], finished_at=timezone.now()
    )
    if cancelled:
        # nothing waits for its approvals any more: they leave the inbox, decided by the cancellation
        AgentApproval.objects.filter(run_id=run.pk, status=AgentApproval.Status.PENDING).update(
            status=AgentApproval.Status.REJECTED,
            comment=f"The run was cancelled by {label}."[:1000],
            decided_by_user_id=_user_id(actor),
            decided_at=timezone.now(),
        )
    if not cancelled:
        run.refresh_from_db()
        raise ValidationError(
            {"status": [f"Only a queued, running or waiting run can be cancelled; this one is {run.status}."]}
        )
    run.refresh_from_db()
    return run


# --- the monthly LLM budgets ---------------------------------------------------------------------------------


def run_budget_check(*, tenant: Tenant, run_id: int, model: str, prompt_tokens: int, completion_tokens: int) -> None:
    """Before each model call of a run: QuotaExceeded when the tenant's month-to-date LLM tokens or estimated cost
    (this run's calls so far included) reached a monthly budget. The first refusal of a month for a budget raises
    a `bizosaas.budget.exceeded` event (once: the event's id is the budget and the month)."""
    cost = llm_client.estimate_cost(model, prompt_tokens, completion_tokens) or 0
    try:
        quotas.check_budget(
            tenant,
            pending={"llm_tokens_per_month": prompt_tokens + completion_tokens, "llm_cost_per_month_usd": cost},
        )
    except quotas.QuotaExceeded as exc:
        _budget_exceeded(exc, run_id=run_id)
        raise


def _budget_exceeded(exc: quotas.QuotaExceeded, *, run_id: int) -> None:
    month = timezone.now().strftime("%Y-%m")
    payload = {**exc.body(), "month": month, "run_id": run_id}
    payload.pop("retry_after")
    try:
        with transaction.atomic():
            event_emit("bizosaas.budget.exceeded", payload, external_id=f"budget:{exc.limit.key}:{month}")
    except IntegrityError:
        pass  # already raised this month


# --- conversations -------------------------------------------------------------------------------------------


def conversation_create(*, tenant: Tenant, actor: Actor, agent: Agent, title: str = "") -> Conversation:
    return Conversation.objects.create(agent=agent, title=(title or "").strip()[:200], created_by_id=_user_id(actor))


def conversation_list(*, agent_id: int | None = None) -> QuerySet[Conversation]:
    conversations = Conversation.objects.select_related("agent")
    if agent_id is not None:
        conversations = conversations.filter(agent_id=agent_id)
    return conversations


def conversation_message_post(*, tenant: Tenant, actor: Actor, conversation: Conversation, content: str) -> AgentRun:
    """The user's next message: recorded in the conversation and answered by a run of its agent."""
    return run_create(
        tenant=tenant, actor=actor, agent=conversation.agent, input=content, conversation=conversation, source="api"
    )
