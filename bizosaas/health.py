"""Liveness, readiness and the metrics endpoint.

/readyz checks each dependency with a short timeout and names the ones that fail, nothing more: it answers anyone,
so the reason (a host name, a driver's message) goes to the log, not into the body. /metrics is served on the
platform's own domains only, to a caller holding METRICS_TOKEN (`Authorization: Bearer ...`), or with no token
set only to a caller on loopback (a scraper beside the process)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.http import HttpResponseForbidden, HttpResponseNotFound, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.agents.knowledge.embeddings import preload_state
from bizosaas.temporal import connect

CHECK_TIMEOUT = 2.0
logger = logging.getLogger(__name__)


def check_postgres() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 2000")
        cursor.execute("SELECT 1")
    return "ok"


def check_redis() -> str:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_temporal() -> str:
    async def probe() -> None:
        client = await asyncio.wait_for(connect(), timeout=CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), timeout=CHECK_TIMEOUT)

    asyncio.run(probe())
    return "ok"


def check_embedding_model() -> str:
    """The local embedding model, where this process preloads it (a search waits for it until then)."""
    state = preload_state()
    if state in ("loading", "failed"):
        raise RuntimeError(f"the embedding model is {state}")
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "postgres": check_postgres,
    "redis": check_redis,
    "temporal": check_temporal,
    "embedding_model": check_embedding_model,
}


def _run(name: str, check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    result: dict[str, str | float]
    try:
        check()
        result = {"status": "ok"}
    except Exception as exc:  # any failure of a dependency is a "not ready", reported by name
        logger.warning("readiness check failed: %s: %s: %s", name, type(exc).__name__, str(exc)[:300])
        result = {"status": "error"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    # PostgreSQL is checked on this thread (Django connections are per thread); the others in parallel.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run, name, check) for name, check in CHECKS.items() if name != "postgres"}
        components = {"postgres": _run("postgres", CHECKS["postgres"])}
        components.update({name: future.result() for name, future in futures.items()})
    failing = sorted(name for name, result in components.items() if result["status"] != "ok")
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if not failing else 503)


def _from_loopback(request) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return _from_loopback(request)
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request):
    from django_prometheus.exports import ExportToDjangoView

    if request.get_host().split(":")[0].lower() not in settings.PUBLIC_DOMAINS:
        return HttpResponseNotFound()  # a tenant's domain (or any other name) has no metrics
    if not _may_scrape(request):
        return HttpResponseForbidden("A metrics token is required.", content_type="text/plain")
    return ExportToDjangoView(request)
