"""Hands accepted events to Celery off the request thread, in batches (the instance: queueing.publisher).

A webhook's request stores the event and returns; this process's publisher thread sends the ids to the broker,
one message per tenant per batch. If the process dies before that, or the broker is down, the events stay
`pending` and the sweeper queues them: the database row, not this queue, is the promise.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

BATCH = 200
LINGER = 0.05  # seconds between two publishes of one process under load


class Publisher:
    """Sends what `submit` is given, as `publish(schema, event_ids)` calls made by a thread of its own."""

    def __init__(self, publish: Callable[[str, list[int]], object]):
        self._publish = publish
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, schema: str, event_id: int) -> None:
        self._ensure_thread()
        self._queue.put((schema, event_id))

    def flush(self, timeout: float = 2.0) -> None:
        """Publishes what is queued now (at exit; tests)."""
        done = threading.Event()
        self._queue.put(done)
        if self._thread is not None and self._thread.is_alive():
            done.wait(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()  # after a fork the parent's queue is not ours
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        last_publish = 0.0
        while True:
            item = self._queue.get()
            # under load, publish at most every LINGER seconds so a burst becomes one message per tenant; when
            # quiet, the first event goes out at once
            wait = LINGER - (time.monotonic() - last_publish)
            if wait > 0:
                time.sleep(wait)
            batches: dict[str, list[int]] = {}
            waiters = []
            while True:
                if isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batches.setdefault(item[0], []).append(item[1])
                if sum(len(ids) for ids in batches.values()) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            for schema, ids in batches.items():
                try:
                    self._publish(schema, ids)
                except Exception:  # never let the thread die; the sweeper has the rows
                    logger.exception("publishing events failed")
            last_publish = time.monotonic()
            for waiter in waiters:
                waiter.set()
