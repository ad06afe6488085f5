"""The address of the person making a request, the one answer used by throttles, the audit log and request logs.

X-Forwarded-For is written by whoever sent the request, so only the entries appended by proxies the deployment
runs are believed: `TRUSTED_PROXY_COUNT` of them, counted from the right, and only when the socket peer is one of
`TRUSTED_PROXY_NETWORKS` (any peer when that is empty). The portal's server is such a proxy: it sets the header
from its own socket peer, replacing whatever the browser sent.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network.strip(), strict=False) for network in networks if network.strip())


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(meta) -> str | None:
    """The client's address from a request's META (or a request): the socket peer unless trusted proxies say."""
    meta = getattr(meta, "META", meta)
    peer = _address(meta.get("REMOTE_ADDR") or "")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0 or peer is None:
        return peer
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXY_NETWORKS", ())))
    if networks and not any(ipaddress.ip_address(peer) in network for network in networks):
        return peer  # not one of our proxies: whatever it claims is the client's own
    forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return peer
    # each trusted proxy appended its own peer; the outermost one's entry is the client
    return _address(forwarded[-min(count, len(forwarded))]) or peer
