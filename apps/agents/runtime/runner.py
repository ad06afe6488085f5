"""Executes one agent run: builds the CrewAI agent, task and crew from the stored configuration, kicks it off on a
thread of its own, serves its database work here (see apps.agents.runtime) and records the outcome.

Called inside the run's tenant schema (the Celery task enters it). Never raises for a failed run: the run row says
what happened. CrewAI is imported here, lazily: it takes seconds, and its environment must be set first.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Tenant
from apps.accounts.quotas import QuotaExceeded
from apps.agents import llm_client
from apps.agents.approvals import run_resume_if_decided
from apps.agents.models import AgentRun, Message
from apps.agents.runtime import RunCancelled, RunClosed, RunContext, RunTimedOut, truncate
from apps.agents.runtime.resume import RunPaused, apply_decision, resume_text
from bizosaas.metrics import AGENT_RUN_SECONDS, AGENT_RUNS, AGENT_TOKENS
from bizosaas.tenancy import current_schema

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 20  # the conversation's most recent messages given to the next run
HISTORY_MESSAGE_CHARS = 4000
EXPECTED_OUTPUT = "A complete, accurate answer to the request, based on what you found and did."
STALE_MARGIN_SECONDS = 300

_crewai_home: str | None = None
_prepare_lock = threading.Lock()


def prepare_crewai() -> None:
    """Points CrewAI's files at a private temporary directory of this process before it is first imported:
    it writes its settings and a replay log of task outputs under $HOME, which would otherwise be shared by every
    process (and so every tenant) of the machine. Its memory (LanceDB) and knowledge (ChromaDB) stay unused."""
    global _crewai_home
    with _prepare_lock:
        if _crewai_home is not None:
            return
        home = tempfile.mkdtemp(prefix="bizosaas-crewai-")
        os.environ["HOME"] = home
        os.environ["XDG_DATA_HOME"] = os.path.join(home, ".local", "share")
        os.environ["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
        os.environ["CREWAI_STORAGE_DIR"] = "bizosaas"
        for name, value in (
            ("CREWAI_DISABLE_TELEMETRY", "true"),
            ("CREWAI_TRACING_ENABLED", "false"),
            ("OTEL_SDK_DISABLED", "true"),
        ):
            os.environ.setdefault(name, value)
        atexit.register(shutil.rmtree, home, True)
        _crewai_home = home


def run_timeout(agent) -> int:
    return max(1, min(int(agent.max_execution_time), int(settings.AGENT_RUN_TIMEOUT_SECONDS)))


def history_text(run: AgentRun) -> str:
    """The conversation's recent messages before this run's own, oldest first."""
    if run.conversation_id is None:
        return ""
    recent = list(
        Message.objects.filter(conversation_id=run.conversation_id)
        .exclude(run_id=run.pk)
        .filter(created_at__lte=run.created_at)
        .order_by("-created_at", "-id")[:HISTORY_MESSAGES]
    )
    lines = [
        f"{'User' if m.role == Message.Role.USER else 'Assistant'}: {truncate(m.content, HISTORY_MESSAGE_CHARS)}"
        for m in reversed(recent)
    ]
    return "\n\n".join(lines)


def task_description(run: AgentRun, transcript: list | None = None) -> str:
    history = history_text(run)
    text = run.input
    if history:
        text = (
            "The conversation so far (oldest first):\n\n"
            f"{history}\n\n"
            "---\n"
            "The user's new message, which you must answer now:\n\n"
            f"{run.input}"
        )
    return text + resume_text(transcript or [])


def _claim(run_id: int) -> AgentRun | None:
    claimed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.QUEUED).update(
        status=AgentRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        # cancelled before it started, or a redelivered task for a run already taken; one whose worker died
        # mid-run (the broker redelivers it) is failed rather than left running forever
        stale = timezone.now() - timedelta(seconds=settings.AGENT_RUN_TIMEOUT_SECONDS + STALE_MARGIN_SECONDS)
        AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.RUNNING, started_at__lt=stale).update(
            status=AgentRun.Status.FAILED,
            error="The worker executing this run stopped before it finished.",
            finished_at=timezone.now(),
        )
        return None
    return AgentRun.objects.select_related("agent", "agent__provider", "conversation").get(pk=run_id)


def _tenant():
    return Tenant.objects.get(schema_name=current_schema())


def _build_crew(run: AgentRun, ctx: RunContext, llm, timeout: int):
    from crewai import Agent as CrewAgent
    from crewai import Crew, Process, Task

    # heavy: like crewai above (seconds to import), these load only when a run builds its crew
    from apps.agents.runtime.llm import BizLLM, MeteredLLM
    from apps.agents.runtime.tools import build_tools

    agent = run.agent
    inner = llm if llm is not None else BizLLM.for_agent(agent, timeout=timeout, ends=ctx.deadline)
    metered = MeteredLLM.wrap(inner, ctx)
    crew_agent = CrewAgent(
        role=agent.role,
        goal=agent.goal,
        backstory=agent.backstory or agent.goal,
        llm=metered,
        tools=build_tools(ctx),
        max_iter=agent.max_iterations,
        max_execution_time=timeout,
        max_retry_limit=0,  # a failed model call fails the run; CrewAI would otherwise start the task over
        allow_delegation=False,
        cache=False,
        verbose=False,
    )
    task = Task(description=task_description(run, ctx.transcript), expected_output=EXPECTED_OUTPUT, agent=crew_agent)
    crew = Crew(
        agents=[crew_agent],
        tasks=[task],
        process=Process.sequential,
        memory=False,
        cache=False,
        verbose=False,
    )
    return crew, metered


def _kickoff(crew, ctx: RunContext):
    """Runs the crew on a thread of its own while this thread serves its requests until done or the deadline."""
    done = threading.Event()
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = crew.kickoff()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"agent-run-{ctx.run_id}", daemon=True)
    thread.start()
    try:
        ctx.serve(done)
        if ctx.paused is not None:
            raise RunPaused
    except (RunTimedOut, RunCancelled):
        # CrewAI's thread cannot be interrupted; closing the context makes its next model or tool call fail fast
        ctx.close("The run was stopped (timed out or cancelled).")
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _reason(exc: BaseException, ctx: RunContext) -> str:
    """What failed, in words a user can act on: the provider's own message when the model call failed."""
    cause = ctx.llm_error or exc
    if isinstance(cause, QuotaExceeded):
        return cause.detail
    message = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    if ctx.llm_error is not None:
        return f"The model provider failed: {message}"
    return message


def execute_run(run_id: int, llm=None) -> AgentRun | None:
    """Executes a queued run once. `llm` replaces the agent's configured provider (tests pass a scripted CrewAI
    LLM); production passes None."""
    run = _claim(run_id)
    if run is None:
        return None
    started = time.monotonic()
    timeout = run_timeout(run.agent)
    ctx = RunContext(
        run_id=run.pk,
        agent_id=run.agent_id,
        schema=current_schema(),
        tenant=_tenant(),
        deadline=started + timeout,
        is_cancelled=lambda: AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.CANCELLED).exists(),
        started_by_rule=run.source == "rule",
        transcript=list((run.resume_state or {}).get("transcript") or []),
    )
    ctx._position = run.steps.aggregate(last=Max("position"))["last"] or 0
    status, output, error = AgentRun.Status.FAILED, "", ""
    metered = crew = None
    try:
        if llm is None and run.agent.provider is None:
            raise RuntimeError("The agent has no LLM provider.")
        prepare_crewai()
        apply_decision(run, ctx)  # a resumed run: the approved call is performed (or the rejection told) first
        crew, metered = _build_crew(run, ctx, llm, timeout)
        result = _kickoff(crew, ctx)
        output = str(getattr(result, "raw", result) or "")
        status = AgentRun.Status.SUCCEEDED
    except RunPaused:
        status = AgentRun.Status.WAITING_APPROVAL
    except RunTimedOut:
        error = f"The run took longer than {timeout} seconds (the agent's maximum execution time) and was stopped."
    except RunCancelled:
        status, error = AgentRun.Status.CANCELLED, "Cancelled while running."
    except RunClosed as exc:
        error = str(exc)
    except Exception as exc:
        logger.info("agent run failed", extra={"run": run_id, "error": type(exc).__name__})
        error = _reason(exc, ctx)
    finally:
        ctx.close("The run is over.")
        if crew is not None:
            try:
                crew._task_output_handler.reset()  # CrewAI's replay log keeps task outputs on disk
            except Exception:  # best effort; the directory is private to this process anyway
                logger.debug("could not clear CrewAI's task output log", exc_info=True)
    return _finish(run, ctx, metered, status=status, output=output, error=error, started=started)


def _finish(run: AgentRun, ctx: RunContext, metered, *, status: str, output: str, error: str, started: float):
    usage = metered.get_token_usage_summary() if metered is not None else None
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    model = (
        metered.inner.model
        if metered is not None
        else (run.agent.model or getattr(run.agent.provider, "default_model", ""))
    )
    # a resumed run adds to what its earlier parts used
    prompt += run.prompt_tokens
    completion += run.completion_tokens
    cost: Decimal | None = llm_client.estimate_cost(model, prompt, completion) if usage or run.cost_usd else None
    if status == AgentRun.Status.SUCCEEDED:
        ctx.write_step("answer", "", {}, output, 0, 0)
    fields = {
        "status": status,
        "output": output,
        "error": error[:1000],
        "model": model[:200],
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "duration_ms": int((time.monotonic() - started) * 1000) + (run.duration_ms or 0),
        "finished_at": timezone.now(),
        "resume_state": None,
    }
    if status == AgentRun.Status.WAITING_APPROVAL:
        # what a fresh worker needs to go on, once a person decides: the transcript and the pending call
        fields.update(finished_at=None, resume_state={"transcript": ctx.transcript, "pending": ctx.paused})
    # a run cancelled meanwhile keeps its status (and the reason given when cancelling)
    updated = AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(**fields)
    if not updated:
        fields.pop("status")
        fields.pop("error")
        AgentRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    if run.status == AgentRun.Status.WAITING_APPROVAL:
        run_resume_if_decided(run_id=run.pk)
        run.refresh_from_db()
        return run
    AGENT_RUNS.labels(status=run.status).inc()
    AGENT_TOKENS.labels(kind="prompt").inc(prompt)
    AGENT_TOKENS.labels(kind="completion").inc(completion)
    AGENT_RUN_SECONDS.observe(time.monotonic() - started)
    if run.status == AgentRun.Status.SUCCEEDED and run.conversation_id:
        Message.objects.create(
            conversation_id=run.conversation_id, role=Message.Role.ASSISTANT, content=output, run=run
        )
        type(run.conversation).objects.filter(pk=run.conversation_id).update(updated_at=timezone.now())  # type: ignore[union-attr]
    return run
