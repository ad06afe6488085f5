"""Provider calls made inside a gateway request (connection test, live preview, an action run by hand, an LLM
provider test, the OAuth code exchange) are slow at the provider's pace, so they are fenced off from the rest of
the gateway:

- each runs under GATEWAY_PROVIDER_DEADLINE in total (nested inside the client's own deadline, so the earlier
  wins), however slowly the provider answers;
- a tenant has at most GATEWAY_PROVIDER_CALLS_PER_TENANT of them in flight across every gateway process, and a
  gateway process at most GATEWAY_PROVIDER_CALLS_PER_PROCESS of its threads in them (both counted in Redis).
  Over either, the request is answered 429 at once with Retry-After instead of taking another thread.

So webhook intake, `/healthz`, `/readyz` and every other API call always find free threads (the gateway runs
more threads than the per-process cap), and one tenant's slow provider cannot use up another tenant's share.
"""

from __future__ import annotations

import functools
import os
import socket
from contextlib import ExitStack

from django.conf import settings
from prometheus_client import Counter

from apps.connectors.exceptions import ConnectorError
from apps.connectors.http import deadline
from bizosaas import leases
from bizosaas.tenancy import current_schema

REFUSED = Counter(
    "bizosaas_gateway_provider_calls_refused_total",
    "Provider calls in requests refused because the tenant's or the process's share was in flight",
    ["scope"],  # tenant | process
)
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


class ProviderCallsBusy(ConnectorError):
    """Answered 429 with Retry-After (bizosaas.api's handler)."""

    status_code = 429
    code = "provider_calls_busy"


def provider_call_slots(schema: str) -> ExitStack:
    """Enters the deadline and takes the tenant's and the process's places; raises ProviderCallsBusy when either
    is full. Use as a context manager around the provider call."""
    seconds = settings.GATEWAY_PROVIDER_DEADLINE
    stack = ExitStack()
    try:
        for scope, name, limit in (
            ("tenant", f"gateway-calls:tenant:{schema}", settings.GATEWAY_PROVIDER_CALLS_PER_TENANT),
            ("process", f"gateway-calls:process:{_PROCESS}", settings.GATEWAY_PROVIDER_CALLS_PER_PROCESS),
        ):
            try:
                stack.enter_context(leases.hold(name, limit=limit, lease=seconds + 15))
            except leases.Busy:
                REFUSED.labels(scope).inc()
                whose = "this workspace has" if scope == "tenant" else "the gateway has"
                raise ProviderCallsBusy(
                    f"{whose.capitalize()} {limit} provider calls in flight already; try again in a few seconds.",
                    retry_after=2,
                ) from None
        stack.enter_context(deadline(seconds))
    except BaseException:
        stack.close()
        raise
    return stack


def slow_provider_call(view_method):
    """Decorates a view method that calls a provider in the current tenant's schema."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        with provider_call_slots(current_schema()):
            return view_method(self, request, *args, **kwargs)

    return wrapper
