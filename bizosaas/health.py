"""Liveness and readiness. /readyz checks each dependency with a short timeout and names the ones that fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

CHECK_TIMEOUT = 2.0


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
    from bizosaas.temporal import connect

    async def probe() -> None:
        client = await asyncio.wait_for(connect(), timeout=CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), timeout=CHECK_TIMEOUT)

    asyncio.run(probe())
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "postgres": check_postgres,
    "redis": check_redis,
    "temporal": check_temporal,
}


def _run(name: str, check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    try:
        check()
        result = {"status": "ok"}
    except Exception as exc:  # any failure of a dependency is a "not ready", reported by name
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
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
