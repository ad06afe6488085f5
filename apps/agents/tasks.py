"""Celery entry points for agents. Each carries the tenant schema explicitly and enters it before touching the
database."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django_tenants.utils import schema_context

from apps.agents.approvals import expire_due
from apps.agents.runtime.runner import execute_run as run
from bizosaas.work import AGENTS, FANOUT, task_options

# the runner enforces the agent's own limit; these only catch a worker stuck beyond it
RUN_LIMITS = (settings.AGENT_RUN_TIMEOUT_SECONDS + 60, settings.AGENT_RUN_TIMEOUT_SECONDS + 120)


@shared_task(name="agents.execute_run", **task_options(AGENTS, RUN_LIMITS))
def execute_run(schema: str, run_id: int) -> None:
    close_old_connections()
    with schema_context(schema):
        run(run_id)


@shared_task(
    name="agents.expire_approvals",
    queue=FANOUT,
    ignore_result=True,
    soft_time_limit=settings.FANOUT_TIME_LIMITS[0],
    time_limit=settings.FANOUT_TIME_LIMITS[1],
)
def expire_approvals() -> dict:
    """The periodic expiry sweep (beat): schemas owing one come from the public index of owed work."""
    close_old_connections()
    return expire_due()


# Celery discovers `apps.agents.tasks` only: the knowledge base's tasks register through this import.
from apps.agents.knowledge.tasks import ingest_document, reembed_collection  # noqa: E402, F401
