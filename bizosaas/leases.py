"""Caps shared by every process: at most `limit` holders of a named slot at once, kept in Redis.

A slot is a sorted set of holder tokens scored by when each lease ends (Redis's own clock, so processes on
different hosts agree). Taking a place first drops the leases that ended, so a holder that died frees its place
when its lease runs out, and the key itself expires once the last lease has. Callers put the tenant in the name
(`conn:<schema>:<table>:<id>`, `inflight:deliveries:<schema>`): a cap is never shared between tenants unless it
is meant to be global.

Redis unreachable: the cap is not enforced (fail open, logged, and Redis is not asked again for a moment);
deadlines still bound the work, and nothing waits on a broken Redis.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

PREFIX = "bzs:slot:"
REDIS_PAUSE_SECONDS = 5.0

# KEYS[1] the slot; ARGV: limit, lease in ms, token. 1 when the place was taken, else 0.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + lease_ms, ARGV[3])
if redis.call('PTTL', KEYS[1]) < lease_ms then
  redis.call('PEXPIRE', KEYS[1], lease_ms + 1000)
end
return 1
"""
# KEYS[1] the slot. How many leases are live now.
_COUNT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
return redis.call('ZCARD', KEYS[1])
"""

_redis_down_until = 0.0
_scripts: dict = {}


class Busy(Exception):
    """Every place of the slot stayed taken for as long as the caller was willing to wait."""


def _client():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def script(client, source: str):
    """The Lua `source` registered on `client` (sent once, then called by its hash)."""
    key = (id(client), source)
    if key not in _scripts:
        _scripts[key] = client.register_script(source)
    return _scripts[key]


def _redis_call(source: str, name: str, *args) -> int | None:
    """The script's answer, or None when Redis cannot be reached (the caller fails open)."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        client = _client()
        return int(script(client, source)(keys=[PREFIX + name], args=list(args)))
    except Exception as exc:  # redis-py's errors, a refused socket, a timeout: all mean "no cap right now"
        _redis_down_until = time.monotonic() + REDIS_PAUSE_SECONDS
        logger.warning("slot %s not enforced, Redis unavailable: %s", name.split(":", 1)[0], type(exc).__name__)
        return None


def redis_pause_reset() -> None:
    """Ask Redis again at the next call, even right after a failure (tests; a process that knows it is back)."""
    global _redis_down_until
    _redis_down_until = 0.0


def try_acquire(name: str, *, limit: int, lease: float) -> str | None:
    """A holder token when a place was free (an empty token when Redis is down: not enforced), else None."""
    token = uuid.uuid4().hex
    taken = _redis_call(_ACQUIRE, name, max(0, int(limit)), max(1, int(lease * 1000)), token)
    if taken is None:
        return ""
    return token if taken else None


def release(name: str, token: str) -> None:
    if not token:
        return
    try:
        _client().zrem(PREFIX + name, token)
    except Exception as exc:  # the lease then simply runs out
        logger.warning("slot release failed, the lease will run out: %s", type(exc).__name__)


def in_use(name: str) -> int:
    """Live leases of the slot (0 when Redis is down)."""
    return _redis_call(_COUNT, name) or 0


@contextmanager
def hold(name: str, *, limit: int, lease: float, wait: float = 0.0) -> Iterator[None]:
    """Holds one place for the block, waiting up to `wait` seconds for one; raises Busy otherwise."""
    waited_until = time.monotonic() + max(0.0, wait)
    pause = 0.02
    while True:
        token = try_acquire(name, limit=limit, lease=lease)
        if token is not None:
            break
        left = waited_until - time.monotonic()
        if left <= 0:
            raise Busy(name)
        time.sleep(min(left, pause * random.uniform(0.5, 1.0)))  # noqa: S311 (jitter, not crypto)
        pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        release(name, token)
