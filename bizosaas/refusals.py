"""Refusals a gateway process repeats on its own: a caller told "429, come back in N seconds" who asks again with
the same credential within those seconds gets the same answer from bizosaas.wsgi, before any middleware,
authentication, database or Redis call. A client that ignores Retry-After (a flood, a retry loop) then costs the
process microseconds a request instead of a pass through the whole stack, and the other tenants keep the CPU.

Held only where repeating the answer is exact or is what the caller was told:

- a webhook endpoint over its requests per second (apps.integrations.inbound_views) stays so until the second ends: held
  for its URL;
- a full API rate window (requests per minute of the tenant or of the API key) stays full until it ends, since its
  counter only grows: held for the principal (its Authorization header), whatever the path, until the window ends;
- "the provider calls are in flight already, try again in N s" (apps.connectors.api.slow_calls) is held for that
  same request (method and path) for those N seconds.

Per process, bounded, keyed by a hash of the credential (the header itself is never kept). What a held answer can
differ in: a request of the same credential that would have been refused otherwise (its permission denied, its
token just expired) gets the 429 instead, until the window ends. A super admin's raised limit applies in this
process once the held window ends (at most a minute).
"""

from __future__ import annotations

import hashlib
import json
import math
import time

from prometheus_client import Counter

from apps.accounts import quotas

HELD = Counter(
    "bizosaas_gateway_refusals_repeated_total",
    "429s a gateway process answered again from memory, before the stack (the caller ignored Retry-After)",
    ["kind"],  # webhook_rate | api_rate | provider_calls
)
MAX_HELD = 10_000

# key -> (monotonic instant the refusal ends, its kind, its quota, its status, its JSON body, its headers but
# Retry-After)
_held: dict[str, tuple[float, str, str, int, bytes, list[tuple[str, str]]]] = {}


def _key(authorization: str, scope: str) -> str:
    return hashlib.sha256(f"{scope}\0{authorization}".encode()).hexdigest()


def principal_key(authorization: str) -> str:
    return _key(authorization, "principal")


def request_key(authorization: str, method: str, path: str) -> str:
    return _key(authorization, f"{method} {path}")


def hook_key(token: str) -> str:
    """A webhook endpoint's requests (`/hooks/<token>/`): whoever knows the URL is its caller."""
    return _key(token, "hook")


def hold(
    key: str, *, kind: str, seconds: float, status: int, body: dict, headers: dict[str, str], limit: str = ""
) -> None:
    """Answers `key`'s requests with this refusal for the next `seconds` (nothing when they are not positive).
    `limit`: the quota it enforces, whose refusals counter (bizosaas_quota_refusals_total) counts each repeat."""
    if seconds <= 0:
        return
    if len(_held) >= MAX_HELD:
        now = time.monotonic()
        for stale in [k for k, held in _held.items() if held[0] <= now]:
            del _held[stale]
        if len(_held) >= MAX_HELD:
            _held.clear()
    kept = [(name, value) for name, value in headers.items() if name.lower() != "retry-after"]
    content = json.dumps(body, separators=(",", ":")).encode()
    _held[key] = (time.monotonic() + seconds, kind, limit, status, content, kept)


def held(*keys: str) -> tuple[int, bytes, list[tuple[str, str]]] | None:
    """The first refusal still held for one of `keys`: (status, body, headers with the Retry-After left)."""
    now = time.monotonic()
    for key in keys:
        found = _held.get(key)
        if found is None:
            continue
        until, kind, limit, status, body, headers = found
        if until <= now:
            _held.pop(key, None)
            continue
        HELD.labels(kind).inc()
        if limit:
            quotas.REFUSALS.labels(limit).inc()
        return status, body, [*headers, ("Retry-After", str(max(1, math.ceil(until - now))))]
    return None


def forget_all() -> None:
    """Drops every held refusal (tests)."""
    _held.clear()


def held_for_api(environ: dict) -> tuple[int, bytes, list[tuple[str, str]]] | None:
    """The refusal held for this API request's credential or for this very request, if any."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if not authorization or not environ.get("PATH_INFO", "").startswith("/api/"):
        return None
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    return held(principal_key(authorization), request_key(authorization, method, path))
