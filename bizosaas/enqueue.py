"""Putting a task on the queue so that a broker outage never fails the caller: `send` now, or `on_commit` once the
current transaction has committed (at once outside one), so that a worker never looks for a row that is not there
yet. When the broker does not take the task, the failure is logged (naming `what`, never the arguments) and
`on_failure(exc)` decides what becomes of the work: left owed for a sweeper, or marked failed with the reason.

Tasks are named as registered with Celery (the app of bizosaas.celery; each app imports its tasks module in
ready()), so a caller need not import the tasks module that imports it back. The integrations engine keeps its
own batching and broker pause on top (apps.integrations.queueing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def send(name: str, args: tuple, *, what: str, on_failure: Callable[[Exception], object] | None = None) -> bool:
    """Queues the task `name` with `args`; False (after `on_failure`) when the broker did not take it."""
    try:
        current_app.tasks[name].apply_async(args, retry=False)
    except Exception as exc:  # broker down, connection refused, a timeout: the caller's work stays recorded
        logger.warning("could not queue %s: %s", what, type(exc).__name__)
        if on_failure is not None:
            on_failure(exc)
        return False
    return True


def on_commit(name: str, args: tuple, *, what: str, on_failure: Callable[[Exception], object] | None = None) -> None:
    """`send` once the current transaction commits (nothing is sent if it rolls back)."""
    transaction.on_commit(lambda: send(name, args, what=what, on_failure=on_failure))
