import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.workflows.temporal.metrics import MetricsUnavailable, metrics_runtime
from apps.workflows.temporal.metrics import metrics_bind as configured_metrics_bind
from apps.workflows.temporal.worker import build_worker, ensure_platform_schedules
from bizosaas.metrics import start_metrics_server
from bizosaas.temporal import connect

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Runs the Temporal worker for the platform's workflows and activities until SIGINT/SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--task-queue", default=settings.TEMPORAL_TASK_QUEUE)
        parser.add_argument("--threads", type=int, default=8, help="activity threads")
        parser.add_argument(
            "--metrics-bind",
            default=None,
            help="host:port of the Prometheus /metrics endpoint (default: TEMPORAL_METRICS_BIND; empty disables it)",
        )

    def handle(self, *args, task_queue: str, threads: int, metrics_bind: str | None, **options):
        asyncio.run(self.run(task_queue=task_queue, threads=threads, metrics_bind=metrics_bind))
        # The worker has drained; skip interpreter finalisation, during which the SDK's native runtime threads
        # can still call back into Python and abort the process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    async def run(self, *, task_queue: str, threads: int, metrics_bind: str | None = None) -> None:
        bind = configured_metrics_bind() if metrics_bind is None else metrics_bind
        try:
            runtime = metrics_runtime(bind)
        except MetricsUnavailable as exc:  # a worker whose metrics nobody would see is a misconfiguration: say so
            raise CommandError(f"{exc}; choose another address with --metrics-bind or TEMPORAL_METRICS_BIND") from exc
        if runtime is not None:
            logger.info("temporal worker metrics", extra={"url": f"http://{bind}/metrics"})
        app_bind = settings.TEMPORAL_APP_METRICS_BIND
        if app_bind:
            try:
                start_metrics_server(app_bind)  # the platform's own counters (workflow and agent runs, ingestion)
            except OSError as exc:  # the port is taken (another worker on this host): work goes on without
                logger.warning("platform metrics not served", extra={"bind": app_bind, "error": str(exc)})
        client = await self.connect_with_retry(runtime)
        await ensure_platform_schedules(client, task_queue=task_queue)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="activity") as executor:
            worker = build_worker(client, task_queue=task_queue, executor=executor)
            async with worker:
                logger.info(
                    "temporal worker polling", extra={"task_queue": task_queue, "address": settings.TEMPORAL_ADDRESS}
                )
                await stop.wait()
        logger.info("temporal worker stopped")

    async def connect_with_retry(self, runtime=None):
        delay = 0.5
        while True:
            try:
                return await connect(runtime=runtime)
            except Exception as exc:  # the server may still be starting; keep trying with backoff
                logger.warning("temporal not reachable, retrying", extra={"error": str(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
