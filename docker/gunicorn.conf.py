"""Gunicorn for the gateway: `gunicorn -c docker/gunicorn.conf.py bizosaas.wsgi`.

Threads (gthread) do the concurrency; GUNICORN_WORKERS > 1 adds processes, and then Prometheus values are kept in a
per-run multiprocess directory so /metrics reports the sum of every worker (dead workers' files are marked).
No access log: bizosaas.observability writes one JSON line per request with request id, tenant and user.
Gunicorn's own messages are JSON too (the same formatter as the application).
"""

import os
import shutil
import sys
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))  # > GATEWAY_PROVIDER_CALLS_PER_PROCESS (8)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else None)
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "bizosaas.observability.JsonFormatter"}},
    "filters": {"context": {"()": "bizosaas.observability.ContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context"],
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

_multiproc_dir = None


def on_starting(server):
    global _multiproc_dir
    if server.cfg.workers > 1:  # the effective count (a --workers on the command line wins over this file)
        # chosen here, in the master, before any worker imports prometheus_client
        _multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
            prefix="bizosaas-gateway-metrics-"
        )
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir
        if "prometheus_client.values" in sys.modules:  # imported already (by a logging handler?): switch it
            from prometheus_client import values

            values.ValueClass = values.get_value_class()
        os.makedirs(_multiproc_dir, exist_ok=True)
        for name in os.listdir(_multiproc_dir):  # a previous run's values must not be added to this one's
            if name.endswith(".db"):
                os.remove(os.path.join(_multiproc_dir, name))


def child_exit(server, worker):
    if _multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _multiproc_dir)


def on_exit(server):
    if (
        _multiproc_dir
        and _multiproc_dir.startswith(tempfile.gettempdir())
        and "bizosaas-gateway-metrics-" in (_multiproc_dir)
    ):
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
