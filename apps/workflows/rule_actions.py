"""The automation rules' `start_workflow` action: {"type": "start_workflow", "config": 4} starts that workflow
configuration now (trigger "rule"). The workflow id derives from the action's idempotency key, so a retried
action finds the run it already started instead of starting another."""

from __future__ import annotations

import hashlib

from apps.accounts.audit.services import Actor
from apps.integrations.rules import ActionFailed, ActionType, register_action
from apps.workflows.client import TemporalUnavailable
from apps.workflows.models import WorkflowConfig, WorkflowRun
from apps.workflows.services import run_now
from bizosaas.tenancy import current_schema


def _config(action: dict):
    ident = action.get("config")
    if isinstance(ident, bool) or not isinstance(ident, int):
        return None
    return WorkflowConfig.objects.filter(pk=ident).first()


def check(action: dict) -> dict[str, list[str]]:
    if _config(action) is None:
        return {"config": ["No such workflow configuration in this tenant."]}
    return {}


def plan(action: dict, context: dict) -> dict:
    config = _config(action)
    return {"config": action["config"], "template": config.template if config else None}


def perform(action: dict, planned: dict, *, tenant, rule, idempotency_key: str, **_) -> dict:
    config = _config(action)
    if config is None:
        raise ActionFailed("The workflow configuration no longer exists.")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    workflow_id = f"wf-{current_schema()}-{config.pk}-rule-{digest}"
    existing = WorkflowRun.objects.filter(workflow_id=workflow_id).first()
    if existing is not None:
        return {"workflow_run": existing.pk, "workflow_id": workflow_id, "already_started": True}
    try:
        run = run_now(
            tenant=tenant,
            actor=Actor.system(f"rule {rule.pk}: {rule.name}"),
            config=config,
            trigger="rule",
            workflow_id=workflow_id,
        )
    except TemporalUnavailable as exc:
        raise ActionFailed(f"Temporal is unavailable: {exc}", retryable=True) from None
    return {"workflow_run": run.pk, "workflow_id": workflow_id}


def register() -> None:
    register_action(ActionType("start_workflow", "Start a configured workflow now", check, plan, perform, ("config",)))
