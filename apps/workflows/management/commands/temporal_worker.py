import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.workflows.temporal.worker import build_worker, ensure_platform_schedules
from bizosaas.temporal import connect

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Runs the Temporal worker for the platform's workflows and activities until SIGINT/SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--task-queue", default=settings.TEMPORAL_TASK_QUEUE)
        parser.add_argument("--threads", type=int, default=8, help="activity threads")

    def handle(self, *args, task_queue: str, threads: int, **options):
        asyncio.run(self.run(task_queue=task_queue, threads=threads))
        # The worker has drained; skip interpreter finalisation, during which the SDK's native runtime threads
        # can still call back into Python and abort the process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    async def run(self, *, task_queue: str, threads: int) -> None:
        client = await self.connect_with_retry()
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

    async def connect_with_retry(self):
        delay = 0.5
        while True:
            try:
                return await connect()
            except Exception as exc:  # the server may still be starting; keep trying with backoff
                logger.warning("temporal not reachable, retrying", extra={"error": str(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
