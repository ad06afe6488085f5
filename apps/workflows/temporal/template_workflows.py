"""Template workflows (apps.workflows.templates names them). This module is re-imported by the workflow sandbox: it
imports temporalio, the standard library and its input dataclass only, and names its activities
(template_activities.py) as strings.

Every template starts with `workflows.start_record` (the WorkflowRun mirror), records its steps as it goes, and
ends with `workflows.finish`, also when an activity failed for good or the run was cancelled. A `status` query
tells the current step; connector_report waits for the `decide` signal when it asks for approval.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():  # a dataclass of the standard library's: shared, not re-imported
    from apps.workflows.temporal.inputs import WorkflowInput

# Bookkeeping on our own database: quick, safe to repeat.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30), maximum_attempts=10
)
RECORD_TIMEOUT = timedelta(seconds=30)
# Provider calls: a provider that is down gets a few spaced attempts (permanent errors are raised non-retryable).
CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)
# An agent run costs money: one more attempt only when the worker itself failed (a failed run is non-retryable).
ANALYSE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=2)
APPROVAL_POLL = timedelta(seconds=15)  # how often a workflow looks whether its paused agent run was decided
ANALYSE_TIMEOUT = timedelta(minutes=35)  # above AGENT_RUN_TIMEOUT_SECONDS (30 min), the agent's own ceiling


def failure_reason(exc: BaseException) -> str:
    """The innermost message: an activity's own ApplicationError says what went wrong in words a user can act on."""
    cause: BaseException | None = exc
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, FailureError):
        return cause.message or type(cause).__name__
    return str(cause) or type(cause).__name__


class TemplateWorkflow:
    def __init__(self) -> None:
        self._input: WorkflowInput | None = None
        self._run_pk: int | None = None
        self._step = "starting"
        self._state = "running"

    @workflow.query(name="status")
    def status(self) -> dict:
        return {"step": self._step, "status": self._state, "run": self._run_pk}

    @property
    def input(self) -> WorkflowInput:
        assert self._input is not None, "execute() sets the input before any step runs"
        return self._input

    @property
    def params(self) -> dict:
        return self.input.params or {}

    def scoped(self, **values: Any) -> dict:
        return {"schema": self.input.schema, "run_pk": self._run_pk, **values}

    async def record_step(self, name: str, status: str, **values: Any) -> None:
        await workflow.execute_activity(
            "workflows.record_step",
            self.scoped(name=name, status=status, **values),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def finish(self, status: str, *, result: dict | None = None, error: str = "") -> None:
        self._step, self._state = "finished", status
        await workflow.execute_activity(
            "workflows.finish",
            self.scoped(status=status, result=result or {}, error=error),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def analyse(self, **values: Any) -> dict:
        """The agent's part (an AgentRun), as a recorded step: `agent_id`, `instructions` and what it reads. A run
        paused for an approval holds no worker: the workflow waits on a durable timer and asks again, and the
        activity goes on with the run once a person decided (or fails with the run when the approval expired)."""

        async def until_done() -> dict:
            payload = self.scoped(user_id=self.input.user_id, **values)
            while True:
                result = await workflow.execute_activity(
                    "workflows.analyse",
                    payload,
                    start_to_close_timeout=ANALYSE_TIMEOUT,
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=ANALYSE_RETRY,
                )
                if not result.get("waiting"):
                    return result
                payload = {**payload, "agent_run_id": result["agent_run_id"], "resuming": True}
                await workflow.sleep(APPROVAL_POLL.total_seconds())

        return await self.step("analyse", until_done, lambda a: {"agent_run_id": a["agent_run_id"]})

    async def step(self, name: str, call: Callable[[], Awaitable[Any]], summary: Callable[[Any], Any]) -> Any:
        self._step = name
        await self.record_step(name, "running")
        value = await call()
        await self.record_step(name, "completed", result=summary(value))
        return value

    async def execute(self, input: WorkflowInput, body: Callable[[], Awaitable[dict]]) -> dict:
        self._input = input
        info = workflow.info()
        self._run_pk = await workflow.execute_activity(
            "workflows.start_record",
            args=[input, info.workflow_id, info.run_id],
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        try:
            return await body()
        except BaseException as exc:
            # the mirror says how the run ended (a running step is closed by `finish`); Temporal still records
            # the failure or cancellation itself
            if is_cancelled_exception(exc):
                await self.finish("cancelled", error="The run was cancelled.")
            elif isinstance(exc, FailureError):
                await self.finish("failed", error=failure_reason(exc))
            raise


@workflow.defn(name="workflows.connector_report")
class ConnectorReportWorkflow(TemplateWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._decision: dict | None = None

    @workflow.signal(name="decide")
    def decide(self, decision: dict) -> None:
        if self._decision is None and isinstance(decision, dict):  # the first decision stands
            self._decision = {
                "approved": decision.get("approved") is True,
                "user_id": decision.get("user_id"),
                "comment": str(decision.get("comment") or "")[:500],
            }

    @workflow.run
    async def run(self, input: WorkflowInput) -> dict:
        return await self.execute(input, self.report)

    async def report(self) -> dict:
        params = self.params
        source = await self.step(
            "read_source",
            lambda: workflow.execute_activity(
                "workflows.read_source",
                self.scoped(
                    connection_id=params["source_connection"],
                    resource=params["source_resource"],
                    window_days=params.get("window_days", 7),
                    max_records=params.get("max_records", 200),
                    now=workflow.now().isoformat(),
                ),
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=3),
                retry_policy=CALL_RETRY,
            ),
            lambda s: {"records": s["count"], "shown": s["shown"], "since": s["since"], "until": s["until"]},
        )
        analysis = await self.analyse(
            agent_id=params["agent"], instructions=params.get("instructions") or "", source=source
        )
        context = {"output": analysis["output"], "title": source["title"], "records": source["count"]}
        outcome = {"records": source["count"], "agent_run_id": analysis["agent_run_id"]}
        publish_input = self.scoped(
            connection_id=params["destination_connection"],
            action=params["destination_action"],
            mapping=params.get("destination_input") or {},
            context=context,
        )
        if params.get("require_approval"):
            verdict = await self.approval(publish_input)
            outcome["approval"] = verdict
            if verdict != "approved":
                await self.record_step("publish", "skipped", result={"reason": f"approval {verdict}"})
                result = {**outcome, "outcome": verdict}
                await self.finish("completed", result=result)
                return result
        published = await self.step(
            "publish",
            lambda: workflow.execute_activity(
                "workflows.publish",
                publish_input,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=CALL_RETRY,
            ),
            lambda p: p,
        )
        result = {**outcome, "outcome": "published", "publish": published}
        await self.finish("completed", result=result)
        return result

    async def approval(self, publish_input: dict) -> str:
        hours = self.params.get("approval_timeout_hours", 48)
        self._step = "approval"
        await workflow.execute_activity(
            "workflows.request_approval",
            {
                **publish_input,
                "step": "publish",
                "expires_at": (workflow.now() + timedelta(hours=hours)).isoformat(),
            },
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
        self._state = "waiting_approval"
        with contextlib.suppress(TimeoutError):  # no decision in time: the approval expires
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timedelta(hours=hours))
        self._state = "running"
        decision = self._decision or {}
        verdict = ("approved" if decision["approved"] else "rejected") if decision else "expired"
        await self.record_step(
            "approval",
            "completed" if verdict == "approved" else verdict,
            result={"decision": verdict, "comment": decision.get("comment", "")},
            run_status="running",
            approval={
                "step": "publish",
                "status": verdict,
                "user_id": decision.get("user_id"),
                "comment": decision.get("comment", ""),
            },
        )
        return verdict


@workflow.defn(name="workflows.agent_run")
class AgentRunWorkflow(TemplateWorkflow):
    @workflow.run
    async def run(self, input: WorkflowInput) -> dict:
        return await self.execute(input, self.agent_run)

    async def agent_run(self) -> dict:
        params = self.params
        analysis = await self.analyse(
            agent_id=params["agent"],
            instructions=params.get("input") or "",
            agent_run_id=params.get("agent_run_id"),  # an agent run queued elsewhere, executed durably
        )
        result = {"outcome": "completed", "agent_run_id": analysis["agent_run_id"], "output": analysis["output"]}
        await self.finish("completed", result=result)
        return result


@workflow.defn(name="workflows.connection_sync")
class ConnectionSyncWorkflow(TemplateWorkflow):
    @workflow.run
    async def run(self, input: WorkflowInput) -> dict:
        return await self.execute(input, self.sync)

    async def sync(self) -> dict:
        params = self.params
        self._step = "sync"
        totals = {"pages": 0, "records": 0, "created": 0, "updated": 0}
        cursor: str | None = None
        # the cursor is the checkpoint: each page is one activity, so a worker lost mid-run resumes after the last
        # page it finished; a run stopped by max_pages leaves the cursor for the next run to resume from
        for page in range(params.get("max_pages", 50)):
            done = await workflow.execute_activity(
                "workflows.sync_page",
                self.scoped(
                    config_id=self.input.config_id,
                    connection_id=params["connection"],
                    resource=params["resource"],
                    page_size=params.get("page_size", 100),
                    cursor=cursor,
                    first=page == 0,
                    totals=totals,
                ),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=CALL_RETRY,
            )
            totals, cursor = done["totals"], done["next_cursor"]
            if not cursor:
                break
        result = {**totals, "outcome": "partial" if cursor else "synced", "resume_cursor": cursor}
        await self.record_step("sync", "completed", result=result)
        await self.finish("completed", result=result)
        return result


@workflow.defn(name="workflows.rule_actions")
class RuleActionsWorkflow(TemplateWorkflow):
    """A durable rule's actions, in order: each performed at most once, failed ones retried on the action's own
    backoff (durable timers), the rule run's outcome mirrored on the workflow run."""

    MAX_STEPS = 200  # bounds the history: 10 actions with their retries fit many times over

    @workflow.run
    async def run(self, input: WorkflowInput) -> dict:
        return await self.execute(input, self.actions)

    async def actions(self) -> dict:
        rule_run_id = self.params["rule_run_id"]
        self._step = "actions"
        await self.record_step("actions", "running")
        for _ in range(self.MAX_STEPS):
            step = await workflow.execute_activity(
                "workflows.rule_action_step",
                self.scoped(rule_run_id=rule_run_id),
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RECORD_RETRY,
            )
            if step["state"] == "done":
                await self.record_step("actions", "completed")
                result = {"outcome": "succeeded", "rule_run_id": rule_run_id}
                await self.finish("completed", result=result)
                return result
            if step["state"] == "failed":
                await self.record_step("actions", "failed", error=step.get("error", ""))
                await self.finish("failed", error=step.get("error", "") or "An action failed.")
                return {"outcome": "failed", "rule_run_id": rule_run_id}
            if step["state"] == "wait":
                await workflow.sleep(max(1.0, float(step["seconds"])))
        await self.finish("failed", error="Too many steps for one rule run.")
        return {"outcome": "failed", "rule_run_id": rule_run_id}
