"""What every provider's webhook check needs: a header read by name in any case, an HMAC of what the platform
signs, and a constant-time comparison. The providers decide what is signed and how it is encoded; this module only
keeps those three steps written once, so none of them drifts (a case-sensitive lookup, an `==` on a secret)."""

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Literal

Encoding = Literal["base64", "hex"]


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers keyed by lower-case name (HTTP names are case-insensitive; callers pass them as received)."""
    return {name.lower(): value for name, value in headers.items()}


def header(headers: Mapping[str, str], name: str) -> str:
    """The value of header `name` in any case, without surrounding whitespace; "" when it was not sent."""
    wanted = name.lower()
    for sent, value in headers.items():
        if sent.lower() == wanted:
            return str(value).strip()
    return ""


def has_header(headers: Mapping[str, str], name: str) -> bool:
    wanted = name.lower()
    return any(sent.lower() == wanted for sent in headers)


def hmac_signature(
    secret: str,
    message: bytes,
    *,
    digest: Callable = hashlib.sha256,
    encoding: Encoding = "base64",
) -> str:
    """HMAC of `message` keyed with `secret` (UTF-8), as base64 (Shopify, HubSpot v3, WooCommerce, Zendesk) or
    lower-case hex (Meta, Intercom)."""
    mac = hmac.new(secret.encode(), message or b"", digest)
    return base64.b64encode(mac.digest()).decode() if encoding == "base64" else mac.hexdigest()


def matches(sent: object, expected: str) -> bool:
    """Whether `sent` (a header, a query parameter, a field of the body) equals `expected`, compared in constant
    time. Never true when nothing is expected (an unconfigured secret) or what was sent is not a string."""
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())
