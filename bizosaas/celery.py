"""The Celery app. In a worker process it also serves Prometheus metrics and writes JSON logs.

Metrics: a prefork worker runs tasks in child processes, each with its own counters, so a worker runs
prometheus_client in multiprocess mode: every process writes its values to files in a directory made for this run
(PROMETHEUS_MULTIPROC_DIR when set, emptied at start, else a fresh temporary one), and the main process serves the
sum of them at http://CELERY_METRICS_BIND/metrics (default 127.0.0.1:9465; empty disables it), with the scrape-time
gauges (queue depth, pending events) of bizosaas.metrics. The directory must be chosen before prometheus_client is
first imported, hence this module does it at import time, only when the command line is a Celery worker.

Logs: Celery does not touch logging (setup_logging is answered here with Django's LOGGING), so every line is the
platform's JSON; each task's lines carry its task id as request_id and its tenant schema (a task's first argument,
by convention) as tenant.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile

from celery import Celery, signals

from bizosaas.observability import request_id_var, tenant_var, user_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizosaas.settings.dev")

DEFAULT_METRICS_BIND = "127.0.0.1:9465"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _is_worker_command(argv: list[str]) -> bool:
    program = os.path.basename(argv[0]) if argv else ""
    return (program.startswith("celery") or program == "__main__.py") and "worker" in argv[1:]


def _prepare_multiprocess_dir() -> tuple[str, bool]:
    """The per-run directory of multiprocess metrics and whether this process made it (and so removes it)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):  # values of a previous run would otherwise be added to this one's
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
        owned = False
    else:
        directory = tempfile.mkdtemp(prefix="bizosaas-celery-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        owned = True
    if "prometheus_client.values" in sys.modules:  # imported already (a plugin?): switch it to multiprocess values
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    return directory, owned


_metrics_dir: str | None = None
_metrics_dir_owned = False
if _is_worker_command(sys.argv):
    _metrics_dir, _metrics_dir_owned = _prepare_multiprocess_dir()

app = Celery("bizosaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.worker_hijack_root_logger = False
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@signals.setup_logging.connect
def _configure_logging(**_kwargs) -> None:
    """Connected, so Celery leaves logging alone: the platform's JSON handler from settings.LOGGING is used."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def metrics_bind() -> str:
    from django.conf import settings

    return getattr(settings, "CELERY_METRICS_BIND", os.environ.get("CELERY_METRICS_BIND", DEFAULT_METRICS_BIND))


@signals.worker_init.connect
def _serve_metrics(**_kwargs) -> None:
    bind = metrics_bind()
    if not bind:
        return
    # bizosaas.metrics imports prometheus_client, which must load after _prepare_multiprocess_dir() ran
    from bizosaas.metrics import app_registry, start_metrics_server

    try:
        start_metrics_server(bind, app_registry(_metrics_dir))
    except OSError as exc:  # another worker on this host has the port: it keeps running, without metrics
        logger.error("celery metrics endpoint unavailable", extra={"bind": bind, "error": str(exc)})
        return
    logger.info("celery worker metrics", extra={"url": f"http://{bind}/metrics"})


@signals.worker_process_shutdown.connect
def _child_exited(pid=None, **_kwargs) -> None:
    if _metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), _metrics_dir)


@signals.worker_shutdown.connect
def _remove_metrics_dir(**_kwargs) -> None:
    if _metrics_dir and _metrics_dir_owned:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


_task_context: dict[str, list] = {}


@signals.task_prerun.connect
def _enter_task_context(task_id=None, args=None, **_kwargs) -> None:
    first = args[0] if args else None
    tenant = first if isinstance(first, str) and _SCHEMA_NAME.match(first) else "-"
    values = ((request_id_var, task_id or "-"), (tenant_var, tenant), (user_var, "-"))
    _task_context[task_id] = [(var, var.set(value)) for var, value in values]


@signals.task_postrun.connect
def _leave_task_context(task_id=None, **_kwargs) -> None:
    for var, token in reversed(_task_context.pop(task_id, [])):
        with contextlib.suppress(ValueError):  # set in another context (an eager task run from a request)
            var.reset(token)
