"""The agent runtime: a CrewAI agent, task and crew built per run from the tenant's configuration.

CrewAI runs the agent loop on threads of its own (its flow engine hands every step to `asyncio.to_thread`). Those
threads never touch the database: the LLM wrapper and our tools hand their database work (grant checks, connector
calls, step records) to the run's `RunContext`, which executes it on the thread that owns the run, in the run's
tenant schema and on its connection. That thread also enforces the deadline: when it passes, the run is failed
and the context closed, so a model or tool still busy on CrewAI's thread is refused anything further.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from apps.agents.models import RunStep

SUMMARY_CHARS = 2000  # what a step keeps of a result; the model may see more


class RunClosed(Exception):
    """The run is over (finished, failed, timed out or cancelled): nothing more is done for it."""


class RunTimedOut(Exception):
    pass


class RunCancelled(Exception):
    pass


def truncate(text: str, limit: int = SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class RunContext:
    """One run's link between CrewAI's threads and the run's own thread (see the module docstring)."""

    run_id: int
    agent_id: int
    schema: str
    tenant: Any  # apps.accounts.models.Tenant
    deadline: float  # time.monotonic()
    is_cancelled: Callable[[], bool] = lambda: False
    started_by_rule: bool = False  # the run acts on data an outsider wrote: its writes ask first by default
    owner: int = field(default_factory=threading.get_ident)
    # the model's answers and the tools' observations of this run, oldest first (kept to resume a paused run)
    transcript: list = field(default_factory=list)
    paused: dict | None = None  # the tool call waiting for an approval, once one was asked for
    llm_error: BaseException | None = None  # the model's own failure, which CrewAI re-wraps on its way out
    _requests: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    _closed: threading.Event = field(default_factory=threading.Event)
    _closed_reason: str = "The run is over."
    _position: int = 0  # the last step's position (a resumed run goes on after its earlier steps)

    # --- used from any thread --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def ensure_open(self) -> None:
        if self._closed.is_set():
            raise RunClosed(self._closed_reason)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs `fn` on the run's thread and returns its result (or raises its exception)."""
        self.ensure_open()
        if threading.get_ident() == self.owner:
            return fn(*args, **kwargs)
        future: Future = Future()
        self._requests.put((future, fn, args, kwargs))
        while True:
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                if self._closed.is_set() and future.cancel():
                    raise RunClosed(self._closed_reason) from None

    def step(
        self,
        kind: str,
        *,
        tool: str = "",
        arguments: dict | None = None,
        summary: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        self.call(self.write_step, kind, tool, arguments or {}, summary, prompt_tokens, completion_tokens)

    def last_thought(self) -> str:
        """The model's most recent stated reasoning (its `Thought:` line), for an approval's reason."""
        for entry in reversed(self.transcript):
            if entry.get("role") == "assistant":
                text = entry.get("content") or ""
                for line in text.splitlines():
                    if line.strip().lower().startswith("thought:"):
                        return line.split(":", 1)[1].strip()
                return text.split("Action:", 1)[0].strip()
        return ""

    # --- used on the run's thread ----------------------------------------------------------------------------

    def pause(self, pending: dict) -> None:
        """Stops the run at a tool call waiting for approval: CrewAI's thread is refused anything further and the
        run's thread stops serving it (see runner.execute_run)."""
        self.paused = pending
        self.close("The run is waiting for an approval.")

    def write_step(self, kind, tool, arguments, summary, prompt_tokens, completion_tokens) -> None:
        self._position += 1
        RunStep.objects.create(
            run_id=self.run_id,
            position=self._position,
            kind=kind,
            tool=tool[:100],
            arguments=arguments,
            result_summary=truncate(summary),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def serve(self, done: threading.Event, *, cancel_check_every: float = 1.0) -> None:
        """Executes the requests of CrewAI's threads until `done` is set; raises RunTimedOut at the deadline and
        RunCancelled when someone cancels the run meanwhile."""
        next_check = time.monotonic() + cancel_check_every
        while not done.is_set() and self.paused is None:
            now = time.monotonic()
            if now >= self.deadline:
                raise RunTimedOut
            if now >= next_check:
                next_check = now + cancel_check_every
                if self.is_cancelled():
                    raise RunCancelled
            try:
                future, fn, args, kwargs = self._requests.get(timeout=min(0.05, self.deadline - now))
            except queue.Empty:
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller's thread
                future.set_exception(exc)

    def close(self, reason: str) -> None:
        """Refuses every further request (those already waiting get RunClosed)."""
        self._closed_reason = reason
        self._closed.set()
        while True:
            try:
                future, *_rest = self._requests.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(RunClosed(reason))
