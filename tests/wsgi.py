"""Requests through the gateway's WSGI entry point (bizosaas.wsgi) itself, as gunicorn makes them: what is answered
there, before Django's middleware, is only seen this way."""

from __future__ import annotations

import io
import json
import logging


def wsgi_call(method: str, path: str, body: bytes = b"", **extra) -> tuple[str, dict, dict | str]:
    """A request through the gateway's WSGI application (bizosaas.wsgi), the way gunicorn calls it: (status,
    headers, the body parsed when it is JSON, else its text)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from bizosaas.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **extra,
    }
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    # as Django's test client does: the test's database connection stays open across the request
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = application(environ, start_response)
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    is_json = answer["headers"].get("Content-Type", "").startswith("application/json")
    return answer["status"], answer["headers"], json.loads(body) if is_json else body.decode()


class LogLines(logging.Handler):
    """The records of a logger during a request (attach it after importing bizosaas.wsgi, whose django.setup()
    re-applies LOGGING)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
