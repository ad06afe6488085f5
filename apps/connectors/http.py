"""The one HTTP client for every outbound provider call.

One total deadline per call (connect, TLS, send and the whole response, retries and their waits included):
every socket operation is bounded by what is left of it, so a server that drips a byte every few seconds is
cut off at the deadline, not at its own pace. A response-size cap, checked while the body streams. Retries
with exponential backoff and jitter on 429 (always) and on 5xx or network errors (only for idempotent
requests, so a write is never sent twice); `Retry-After` and reset headers honoured up to a cap and within the
deadline; a per-connection concurrency cap shared by every process (Redis, keyed by tenant); redirects
followed only within the same origin (scheme, host and port); egress rules (`address_refusal`) applied where the
socket connects: a host name is resolved once, every address it answers is judged, and the connection goes to
the vetted address (no DNS rebinding between the check and the connect), on every request and redirect hop;
Prometheus metrics per provider and outcome. Errors become the typed exceptions of `exceptions.py`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings
from prometheus_client import Counter, Histogram

from apps.connectors.exceptions import (
    AuthenticationError,
    BadResponseError,
    BlockedHostError,
    NotFoundError,
    ProviderRequestError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bizosaas import leases

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "bizosaas_connector_requests_total", "Provider HTTP requests by provider and outcome", ["provider", "outcome"]
)
LATENCY = Histogram("bizosaas_connector_request_seconds", "Provider HTTP request latency", ["provider"])

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})

# --- the total deadline ----------------------------------------------------------------------------------------

# (when it ends on time.monotonic(), how many seconds it was set to) of the deadline in force
_deadline: ContextVar[tuple[float, float] | None] = ContextVar("bizosaas_http_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every outbound request made inside ends by `seconds` from now, whatever the server's pace. Nested
    deadlines only shorten: a call under a request's or a run's own deadline gets the earlier of the two."""
    seconds = max(0.0, seconds)
    ends = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(current if current is not None and current[0] <= ends else (ends, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds until the current deadline (never negative), or None outside any."""
    current = _deadline.get()
    return None if current is None else max(0.0, current[0] - time.monotonic())


def deadline_seconds() -> float | None:
    """What the deadline in force was set to (for messages), or None outside any."""
    current = _deadline.get()
    return None if current is None else current[1]


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """The per-operation timeout shortened to what is left of the deadline; past it, `expired` at once."""
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise expired("the call's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read, write and TLS step is bounded by the current deadline."""

    WRITE_CHUNK = 64 * 1024  # a slow reader on the other side cannot stretch one write past the deadline

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), self.WRITE_CHUNK):
            self._inner.write(buffer[start : start + self.WRITE_CHUNK], _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    """Every connection httpx opens comes through here: the host name is resolved once, every address it
    resolves to is judged by the egress rules, and the socket connects to a vetted address, never to a fresh
    resolution (a name that answers a public address to the check and 127.0.0.1 to the connect — DNS rebinding —
    is refused). TLS is unaffected: httpcore takes the server name for SNI and certificate checks from the URL."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = vetted_addresses(host, port)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            bounded = _bounded(timeout, httpcore.ConnectTimeout)
            try:
                stream = super().connect_tcp(address, port, bounded, local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address of a multi-homed host may answer
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure or httpcore.ConnectError(f"Cannot connect to {host}.")


def _http_client(**options) -> httpx.Client:
    """An httpx client whose connections honour the current deadline and the egress rules (httpx takes no
    network backend as an argument, so its pool is given ours). With an explicit transport httpx ignores proxy
    variables, so the vetted address is the one connected to."""
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = _DeadlineBackend()
    return httpx.Client(transport=transport, **options)


def _read_capped(response: httpx.Response, *, limit: int, label: str) -> httpx.Response:
    """Reads a streamed body into the response, refusing more than `limit` bytes (decoded, so a gzip bomb counts
    at its inflated size)."""
    try:
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > limit:
            raise BadResponseError(f"{label} answered {declared} bytes, more than the {limit}-byte limit; refused.")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise BadResponseError(f"{label} answered more than the {limit}-byte limit; refused.")
            chunks.append(chunk)
    finally:
        response.close()
    response._content = b"".join(chunks)  # what Response.read() would have set
    return response


# --- egress: which addresses outbound calls may reach ---------------------------------------------------------

_net = ipaddress.ip_network
LOOPBACK_NETWORKS = (_net("127.0.0.0/8"), _net("::1/128"))
# what CONNECTORS_ALLOW_PRIVATE opens: private-use networks (RFC 1918, shared CGNAT space, IPv6 unique local)
PRIVATE_NETWORKS = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),
    _net("fc00::/7"),
)
# refused whatever the settings: "this host" (0.0.0.0 and :: reach loopback), link-local (cloud metadata),
# IETF protocol assignments, benchmarking, documentation, reserved, broadcast, and the IPv6 special blocks
NEVER_NETWORKS = (
    _net("0.0.0.0/8"),
    _net("169.254.0.0/16"),
    _net("192.0.0.0/24"),
    _net("192.0.2.0/24"),
    _net("192.88.99.0/24"),
    _net("198.18.0.0/15"),
    _net("198.51.100.0/24"),
    _net("203.0.113.0/24"),
    _net("224.0.0.0/4"),
    _net("240.0.0.0/4"),
    _net("::/128"),
    _net("100::/64"),
    _net("2001::/23"),
    _net("2001:db8::/32"),
    _net("fe80::/10"),
    _net("fec0::/10"),
    _net("ff00::/8"),
)
# IPv6 forms that carry an IPv4 address a gateway or the kernel turns back into it; judged as that address
NAT64 = _net("64:ff9b::/96")
NAT64_LOCAL = _net("64:ff9b:1::/48")
IPV4_TRANSLATED = _net("::ffff:0:0:0/96")
IPV4_COMPATIBLE = _net("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a mapped (::ffff:a.b.c.d), translated, NAT64 (RFC 6052 /96 form), 6to4
    (2002:aabb:ccdd::) or IPv4-compatible (::a.b.c.d) IPv6 address; None for any other address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in NAT64 or address in IPV4_TRANSLATED:
        return low
    if address in NAT64_LOCAL and (int(address) >> 32) & 0xFFFFFFFFFFFF == 0:
        return low  # the /96 form inside the local-use prefix; other prefix lengths are refused below
    if address in IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return low
    return None


def address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address `address` is when an outbound call may not connect to it (loopback,
    private network, special-purpose), or None when it may.

    Public unicast addresses are allowed; loopback only with CONNECTORS_ALLOW_LOOPBACK (tests and local
    development), private-use networks only with CONNECTORS_ALLOW_PRIVATE (a self-hosted platform reaching the
    tenant's LAN); the unspecified address, link-local, multicast, broadcast and the other special blocks never.
    IPv6 forms that embed an IPv4 address are judged as that address."""
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = address_refusal(embedded)
            return None if kind is None else f"{kind}, as {embedded}"
        if address in NAT64_LOCAL:
            return "local NAT64"
    if any(address in network for network in NEVER_NETWORKS) or address == ipaddress.IPv4Address("255.255.255.255"):
        return "special-purpose"
    if any(address in network for network in LOOPBACK_NETWORKS):
        return None if settings.CONNECTORS_ALLOW_LOOPBACK else "loopback"
    if any(address in network for network in PRIVATE_NETWORKS):
        return None if settings.CONNECTORS_ALLOW_PRIVATE else "private network"
    if not address.is_global or address.is_multicast:
        return "special-purpose"
    return None


def _resolve(host: str, port: int) -> list:
    """getaddrinfo bounded by the call's deadline (and DNS_TIMEOUT): a resolver that never answers cannot hold the
    caller past it. The lookup runs on a daemon thread of its own (one per lookup, so one tenant's slow names do not
    queue another's); an IP literal needs no lookup."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    limit = _bounded(settings.DNS_TIMEOUT, httpcore.ConnectTimeout)
    outcome: dict = {}
    done = threading.Event()

    def lookup():
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve-{host}"[:60], daemon=True).start()
    if not done.wait(limit):
        raise httpcore.ConnectTimeout(f"Resolving {host} took longer than {limit:.1f} s.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]


def vetted_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, each allowed by the egress rules, in the resolver's order; a host with
    one refused address is refused as a whole (a rebinding name may answer public and private addresses
    together)."""
    try:
        infos = _resolve(host, port)
    except (socket.gaierror, UnicodeError):
        raise httpcore.ConnectError(f"Cannot resolve {host}.") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%")[0]
        refusal = address_refusal(ipaddress.ip_address(text))
        if refusal is not None:
            raise BlockedHostError(f"{host} resolves to a non-public address ({text}: {refusal}); refused.")
        if text not in addresses:
            addresses.append(text)
    return addresses


def guard_host(url: str) -> None:
    """Refuses URLs whose host is, or resolves to, an address the egress rules refuse (SSRF), with a message for
    the person who typed the URL. Only an early answer: the connection itself is vetted again at connect time
    (`_DeadlineBackend`), which is the check that counts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedHostError(f"Not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedHostError(f"Not a valid port in {url!r}") from None
    try:
        vetted_addresses(parts.hostname, port)
    except httpcore.ConnectError:
        raise ProviderUnavailableError(f"Cannot resolve {parts.hostname}.") from None
    except httpcore.ConnectTimeout as exc:
        raise ProviderUnavailableError(f"{exc} Try again later.") from None


def redirect_refusal(current: str, location: str) -> str | None:
    """Why a redirect from `current` to `location` may not be followed, or None. Only the same origin (scheme,
    host and port) is followed: credentials travel with every hop, so a downgrade to http, another host or
    another port (or an upgrade, which the site's URL should name itself) is refused rather than followed."""
    here, there = urlsplit(current), urlsplit(location)
    if there.scheme not in ("http", "https") or not there.hostname:
        return "to something that is not an http(s) URL"
    try:
        here_port = here.port or (443 if here.scheme == "https" else 80)
        there_port = there.port or (443 if there.scheme == "https" else 80)
    except ValueError:
        return "to an invalid port"
    if here.scheme == "https" and there.scheme == "http":
        return "from https to plain http"
    if (here.hostname or "").lower() != there.hostname.lower():
        return "to another host"
    if here.scheme != there.scheme or here_port != there_port:
        return "to another scheme or port (use the final address as the URL)"
    return None


def provider_message(response: httpx.Response) -> str:
    """The provider's own error text, short, for users."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text and "<html" not in text[:200].lower() else response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error_description", "detail", "error", "title", "code"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("detail") or errors[0])[:300]
        if isinstance(body.get("data"), list) and body["data"] and isinstance(body["data"][0], dict):
            return str(body["data"][0].get("message", ""))[:300] or response.reason_phrase
    if isinstance(body, list) and body and isinstance(body[0], dict) and "message" in body[0]:
        return str(body[0]["message"])[:300]
    return response.reason_phrase


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    for header in ("X-RateLimit-Reset", "RateLimit-Reset", "X-Rate-Limit-Reset"):
        value = response.headers.get(header)
        if value and value.isascii() and value.replace(".", "", 1).isdigit():  # never a Unicode digit
            seconds = float(value)
            return max(0.0, seconds - time.time()) if seconds > 1_000_000_000 else seconds
    return None


class ProviderHTTP:
    """One provider's HTTP session for one connection. Use as a context manager, or call close()."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        connection_key: str = "",
        headers: Callable[[], dict[str, str]] | None = None,
        basic_auth: tuple[str, str] | None = None,
        on_unauthorized: Callable[[], bool] | None = None,
        retry_after: Callable[[httpx.Response], float | None] | None = None,
        error_message: Callable[[httpx.Response], str | None] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        max_retries: int | None = None,
        label: str = "",
    ):
        guard_host(base_url)
        self.provider = provider  # the key: metric labels
        self.label = label or provider  # the name people read in error messages
        self.base_url = base_url.rstrip("/") + "/"
        self._host = urlsplit(self.base_url).netloc.lower()
        # the per-connection cap's key; it carries the tenant schema (an unkeyed session has no cap)
        self.connection_key = connection_key
        self.deadline = settings.CONNECTOR_DEADLINE if deadline is None else deadline
        self._headers = headers or (lambda: {})
        self._on_unauthorized = on_unauthorized
        self._retry_after = retry_after  # the provider's reading of its own rate-limit headers
        self._error_message = error_message  # the provider's reading of its own error bodies
        self.max_retries = settings.CONNECTOR_MAX_RETRIES if max_retries is None else max_retries
        self._client = _http_client(
            timeout=timeout or settings.CONNECTOR_TIMEOUT,
            follow_redirects=False,
            auth=httpx.BasicAuth(*basic_auth) if basic_auth else None,
            headers={"User-Agent": "BizOSaaS/1 (+integration hub)", "Accept": "application/json"},
        )

    def __enter__(self) -> ProviderHTTP:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url, path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | list | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        method = method.upper()
        url = self.url(path)
        if urlsplit(self.base_url).scheme == "https" and urlsplit(url).scheme != "https":
            # an absolute URL from a provider response would carry the credentials in clear text
            raise ProviderRequestError(f"{self.label} gave a plain http URL for an https connection; refused.")
        if urlsplit(url).netloc.lower() != self._host:
            # an absolute URL from a provider response (a `next` link): the connection's credentials go only to
            # the address the person confirmed with them, never to another host a response names
            raise ProviderRequestError(
                f"{self.label} gave a link to another host ({urlsplit(url).hostname}); not followed with the "
                "connection's credentials."
            )
        safe_to_repeat = method in IDEMPOTENT if idempotent is None else idempotent
        with deadline(self.deadline), self._connection_slot():
            return self._attempts(
                method, url, safe_to_repeat, params=params, json_body=json_body, data=data, headers=headers
            )

    @contextmanager
    def _connection_slot(self) -> Iterator[None]:
        """At most CONNECTOR_MAX_CONCURRENCY calls in flight per connection across every process; a caller waits
        a bounded time for a place, then gets a rate-limit error instead of queueing behind a slow provider."""
        if not self.connection_key:
            yield
            return
        wait = min(settings.CONNECTOR_CONCURRENCY_WAIT, time_left() or settings.CONNECTOR_CONCURRENCY_WAIT)
        lease = self.deadline + 5
        try:
            with leases.hold(
                f"conn:{self.connection_key}", limit=settings.CONNECTOR_MAX_CONCURRENCY, lease=lease, wait=wait
            ):
                yield
        except leases.Busy:
            raise RateLimitedError(
                f"{self.label}: {settings.CONNECTOR_MAX_CONCURRENCY} requests to this connection are already in "
                "flight; try again shortly.",
                retry_after=1.0,
            ) from None

    def _attempts(self, method, url, safe_to_repeat, **request) -> httpx.Response:
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = self._send(method, url, **request)
            except BlockedHostError:  # the connect-time egress check: never retried
                self._record("blocked_host", started)
                raise
            except httpx.TransportError as exc:
                self._record("network_error", started)
                if safe_to_repeat and attempt <= self.max_retries and self._can_wait(self._backoff(attempt)):
                    self._sleep(self._backoff(attempt))
                    continue
                if time_left() == 0:
                    raise ProviderUnavailableError(
                        f"{self.label} did not answer completely within {deadline_seconds():g} s; try again later.",
                        retry_after=self._backoff(attempt),
                    ) from None
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
                raise ProviderUnavailableError(
                    f"{self.label} {kind}; try again later.", retry_after=self._backoff(attempt)
                ) from None
            status = response.status_code
            if status == 401 and self._on_unauthorized and not refreshed:
                self._record("auth_error", started)
                refreshed = True
                if self._on_unauthorized():
                    continue
            if status == 429 or (status in RETRYABLE_STATUS and safe_to_repeat):
                self._record("rate_limited" if status == 429 else "server_error", started)
                hint = self._retry_after(response) if self._retry_after is not None else None
                # the provider's "do not retry" (a spent daily budget) wins over generic reset headers
                wait = hint if hint == math.inf else retry_after_seconds(response)
                if wait is None:
                    wait = hint
                pause = wait if wait is not None else self._backoff(attempt)
                if (
                    attempt <= self.max_retries
                    and (wait is None or wait <= settings.CONNECTOR_MAX_RETRY_AFTER)
                    and self._can_wait(pause)
                ):
                    self._sleep(pause)
                    continue
                if status == 429:
                    raise RateLimitedError(
                        f"{self.label} rate limit reached: {self._message(response)}",
                        provider_status=429,
                        retry_after=wait,
                    )
                raise ProviderUnavailableError(
                    f"{self.label} is failing ({status}); try again later.",
                    provider_status=status,
                    retry_after=wait,
                )
            self._record(self._outcome(status), started)
            return self._raise_for_status(response)

    @staticmethod
    def _can_wait(seconds: float) -> bool:
        """A retry is only worth its wait when there is time left for another attempt after it."""
        left = time_left()
        return left is None or seconds + 0.5 < left

    def _send(self, method, url, *, params, json_body, data, headers) -> httpx.Response:
        merged = {**self._headers(), **(headers or {})}
        limit = settings.CONNECTOR_MAX_RESPONSE_BYTES
        for _hop in range(4):
            request = self._client.build_request(method, url, params=params, json=json_body, data=data, headers=merged)
            response = _read_capped(self._client.send(request, stream=True), limit=limit, label=self.label)
            if not response.is_redirect:
                return response
            location = urljoin(str(response.request.url), response.headers.get("Location", ""))
            refusal = redirect_refusal(str(response.request.url), location)
            if refusal is not None:
                raise ProviderRequestError(f"{self.label} redirected {refusal}; refused.")
            url, params = location, None
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, json_body, data = "GET", None, None
        raise ProviderRequestError(f"{self.label} redirected too many times.")

    def _raise_for_status(self, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        message = self._message(response)
        if status in (401, 403):
            raise AuthenticationError(f"{self.label} rejected the credentials: {message}", provider_status=status)
        if status == 404:
            raise NotFoundError(f"{self.label}: not found ({message})", provider_status=status)
        if status >= 500:
            raise ProviderUnavailableError(f"{self.label} is failing ({status}): {message}", provider_status=status)
        raise ProviderRequestError(f"{self.label} refused the request: {message}", provider_status=status)

    def _message(self, response: httpx.Response) -> str:
        own = None
        if self._error_message is not None:
            try:
                own = self._error_message(response)
            except (ValueError, KeyError, TypeError, AttributeError):
                own = None
        return own or provider_message(response)

    def json(self, method: str, path: str, **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        return parse_json(response, provider=self.label)

    def _backoff(self, attempt: int) -> float:
        base = settings.CONNECTOR_BACKOFF_BASE * (2 ** (attempt - 1))
        return min(base, 30.0) * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not crypto)

    @staticmethod
    def _sleep(seconds: float) -> None:
        time.sleep(seconds)

    def _outcome(self, status: int) -> str:
        if status < 400:
            return "ok"
        if status in (401, 403):
            return "auth_error"
        return "server_error" if status >= 500 else "client_error"

    def _record(self, outcome: str, started: float) -> None:
        REQUESTS.labels(self.provider, outcome).inc()
        LATENCY.labels(self.provider).observe(time.perf_counter() - started)


def parse_json(response: httpx.Response, *, provider: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        raise BadResponseError(
            f"{provider} answered with a body that is not valid JSON (HTTP {response.status_code})."
        ) from None


# --- outbound webhooks ---------------------------------------------------------------------------------------

# how much of a receiver's answer the delivery log keeps: enough to read an error, too little to read back a page
WEBHOOK_EXCERPT = 256


class WebhookPost:
    """What one outbound webhook POST came to: a status code, or an error (network, timeout, refused host)."""

    def __init__(self, *, status: int | None, retry_after: float | None, excerpt: str, error: str, latency_ms: int):
        self.status, self.retry_after, self.excerpt, self.error = status, retry_after, excerpt, error
        self.latency_ms = latency_ms

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


_webhook_client: httpx.Client | None = None
_webhook_client_lock = threading.Lock()


def _shared_webhook_client() -> httpx.Client:
    global _webhook_client
    with _webhook_client_lock:
        if _webhook_client is None:
            _webhook_client = _http_client(
                follow_redirects=False, headers={"User-Agent": "BizOSaaS-Webhooks/1"}, limits=httpx.Limits()
            )
        return _webhook_client


def post_webhook(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> WebhookPost:
    """One POST to a tenant's endpoint, over within `timeout` seconds in total (connect, send and the response
    read, however slowly the receiver drips it): never raises, never follows redirects (a 3xx is a failure),
    refuses non-public hosts like connector calls do, and keeps the start of the response for the delivery log."""
    started = time.perf_counter()

    def done(status=None, retry_after=None, excerpt="", error=""):
        latency = int((time.perf_counter() - started) * 1000)
        return WebhookPost(status=status, retry_after=retry_after, excerpt=excerpt, error=error, latency_ms=latency)

    try:
        guard_host(url)
    except (BlockedHostError, ProviderUnavailableError) as exc:
        return done(error=exc.message)
    try:
        with (
            deadline(timeout),
            _shared_webhook_client().stream("POST", url, content=body, headers=headers, timeout=timeout) as response,
        ):
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= WEBHOOK_EXCERPT * 4:
                    break
            text = b"".join(chunks)[: WEBHOOK_EXCERPT * 4].decode("utf-8", "replace")[:WEBHOOK_EXCERPT]
            return done(status=response.status_code, retry_after=retry_after_seconds(response), excerpt=text)
    except BlockedHostError as exc:  # the host re-resolved to a refused address at connect time
        return done(error=exc.message)
    except httpx.TimeoutException:
        return done(error=f"Timed out: no complete answer within {timeout:g} s.")
    except httpx.HTTPError as exc:
        return done(error=f"Could not connect: {type(exc).__name__}.")
