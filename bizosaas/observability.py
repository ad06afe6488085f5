"""Request ids, JSON logs carrying request id / tenant / user, and the per-request log line."""

from __future__ import annotations

import atexit
import contextvars
import copy
import logging
import logging.handlers
import os
import queue
import re
import threading
import time
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from apps.accounts.client import client_ip

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
user_var: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="-")
client_var: contextvars.ContextVar[tuple[str | None, str]] = contextvars.ContextVar("client", default=(None, ""))

request_logger = logging.getLogger("bizosaas.request")


class ContextFilter(logging.Filter):
    """Stamps every record with the current request id, tenant and user (or '-' outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.user = user_var.get()
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s %(user)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)


class BackgroundHandler(logging.Handler):
    """A stream handler (stderr) whose INFO and DEBUG lines are formatted and written by a thread of the process,
        off the path of the request or task that logged them; warnings, errors and anything with a traceback are
        written at once, in the caller's thread, so they are out before whatever follows them. The queue is bounded
        (QUEUE_SIZE lines: past it a line is written in the caller's thread) and emptied at exit. Each process starts
        its own thread when it first logs: a forked worker does not inherit its parent's. (The standard library's
    QueueHandler formats each line in the caller's thread before queueing it; here the thread formats.)"""

    QUEUE_SIZE = 10_000

    def __init__(self, stream=None):
        super().__init__()
        self.target = logging.StreamHandler(stream)
        self._started = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue | None = None

    def setFormatter(self, fmt) -> None:  # the thread formats: the target holds the formatter
        super().setFormatter(fmt)
        self.target.setFormatter(fmt)

    def setStream(self, stream):
        return self.target.setStream(stream)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.exc_info or record.stack_info:
            self.target.handle(record)
            return
        if record.args and not isinstance(record.msg, dict):
            record = copy.copy(record)  # the arguments merged now: they may change once the caller goes on
            record.msg, record.args = record.getMessage(), None
        try:
            self._queue_of_this_process().put_nowait(record)
        except queue.Full:
            self.target.handle(record)

    def _queue_of_this_process(self) -> queue.Queue:
        if self._pid == os.getpid() and self._queue is not None:
            return self._queue
        with self._started:
            if self._pid != os.getpid() or self._queue is None:
                lines: queue.Queue = queue.Queue(self.QUEUE_SIZE)
                listener = logging.handlers.QueueListener(lines, self.target)
                listener.start()
                atexit.register(listener.stop)  # writes what is still queued
                self._queue, self._pid = lines, os.getpid()
        return self._queue


def _user_label(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "-"
    return str(user.pk) if getattr(user, "pk", None) is not None else str(user)


class RequestContextMiddleware:
    """Accepts a well-formed incoming X-Request-ID (or makes one), exposes it to logs, echoes it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        client = (client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:512])
        variables: tuple[contextvars.ContextVar[Any], ...] = (request_id_var, tenant_var, user_var, client_var)
        tokens = [var.set(value) for var, value in zip(variables, (request_id, "-", "-", client), strict=True)]
        try:
            response = self.get_response(request)
        finally:
            for var, token in zip(variables, tokens, strict=True):
                var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _loggable_path(path: str) -> str:
    """Inbound webhook and test receiver URLs carry a token: logs keep only its first characters."""
    if path.startswith("/hooks/"):
        token = path[len("/hooks/") :].strip("/")
        return f"/hooks/{token[:6]}…/" if token else path
    if path.startswith("/receiver/"):
        slug, _, token = path[len("/receiver/") :].strip("/").partition("/")
        return f"/receiver/{slug}/{token[:6]}…/" if token else path
    return path


class RequestLogMiddleware:
    """One structured line per request: method, path, status, duration, with tenant and user known by then."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        tenant = getattr(request, "tenant", None)
        tenant_var.set(tenant.schema_name if tenant is not None else "public")
        user_var.set(_user_label(getattr(request, "user", None)))
        response = self.get_response(request)
        user_var.set(_user_label(getattr(request, "user", None)))  # DRF authenticates inside the view
        if request.path not in ("/healthz", "/metrics"):
            request_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": _loggable_path(request.path),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return response
