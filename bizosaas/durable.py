"""Durable work as the apps below `apps.workflows` start it: by kind, through the starters the workflows app
registers in its ready(), so that no lower app imports the one above it (the layers in pyproject.toml).

`start_or_queue(kind, queue, ...)` is "Temporal, else Celery": it starts the kind's workflow, and when the
workflow engine cannot take it (`Unavailable`) it logs that and calls `queue()` instead, which puts the same work
on the task queue. Nothing accepted is lost either way.

Kinds: `rule_actions` (a durable rule's actions: `rule_run=`) and `agent_run` (a long agent run: `actor=`,
`agent_run=`), both with `tenant=`; `running(kind, ...)` asks whether a running workflow owns an object (the
agent run it resumes itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

RULE_ACTIONS, AGENT_RUN = "rule_actions", "agent_run"


class Unavailable(Exception):
    """The workflow engine could not take the work now (the workflows app's TemporalUnavailable is one). A plain
    exception, raised from services and tasks alike: `detail` is what the caller is told, `extra` more fields for
    an API answer (bizosaas.api maps it to a 503, the one place that knows HTTP)."""

    default_detail = "The workflow engine is unavailable; try again later."

    def __init__(self, detail: str = "", **extra: object) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


@dataclass(frozen=True)
class Kind:
    start: Callable[..., str]  # keyword arguments of the kind -> the started (or existing) workflow's id
    running: Callable[..., bool] | None = None


_kinds: dict[str, Kind] = {}


def register(kind: str, *, start: Callable[..., str], running: Callable[..., bool] | None = None) -> None:
    _kinds[kind] = Kind(start, running)


def _kind(kind: str) -> Kind:
    try:
        return _kinds[kind]
    except KeyError:
        raise LookupError(f"no durable work of kind {kind!r} is registered (apps.workflows registers them)") from None


def start(kind: str, **arguments) -> str:
    """Starts the kind's workflow; its id. Raises Unavailable when the engine cannot take it."""
    return _kind(kind).start(**arguments)


def start_or_queue(kind: str, queue: Callable[[], object], *, what: str, **arguments) -> str | None:
    """The workflow's id; or, when the engine is unavailable, None once `queue()` has handed the work to the task
    queue (`what` names it in the log line)."""
    try:
        return start(kind, **arguments)
    except Unavailable:
        logger.warning("Temporal unavailable; %s goes to the task queue", what)
        queue()
        return None


def running(kind: str, **arguments) -> bool:
    """Whether a running workflow of the kind owns what the arguments name."""
    check = _kind(kind).running
    return bool(check and check(**arguments))
