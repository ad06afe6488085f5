"""Who is calling `/mcp/`: an API key with the `mcp` scope, or whatever a registered bearer authenticator accepts
(the OAuth 2.1 access tokens of MCP clients). The answer is an `McpPrincipal` or None; None is answered 401 with
`WWW-Authenticate: Bearer resource_metadata=...` so that a client can discover how to sign in (RFC 9728, as the
MCP authorization specification requires).

Authenticators are registered once, at start-up (an app's `ready()`), and tried in order for bearer tokens that
are not API keys; the first that returns a principal wins. An authenticator must not raise for a token it does not
know: it returns None and the next one is tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from apps.accounts.api_keys import KEY_PREFIX, api_key_lookup
from apps.accounts.audit.services import Actor
from apps.accounts.models import ApiKey, Tenant

MCP_SCOPE = "mcp"


@dataclass(frozen=True)
class McpPrincipal:
    """The caller of a tool call. `allowed_tools` narrows the tools further (a set of tool names) or is None.

    For an API key the tools come from the key's `mcp_tools` grants, re-read on every call; for any other principal
    (an OAuth client) `grants` may carry grants in the same shape, and None means every tool of the tenant."""

    tenant: Tenant
    actor_label: str
    api_key: ApiKey | None = None
    oauth_client: Any = None
    allowed_tools: frozenset[str] | None = None
    user_id: int | None = None
    grants: list[dict] | None = field(default=None, compare=False)

    @property
    def schema(self) -> str:
        return self.tenant.schema_name

    @property
    def actor(self) -> Actor:
        if self.api_key is not None:
            return Actor("api_key", str(self.api_key.pk), self.actor_label)
        client_id = getattr(self.oauth_client, "client_id", None) or getattr(self.oauth_client, "pk", "")
        return Actor("oauth_client", str(client_id or ""), self.actor_label)


BearerAuthenticator = Callable[[HttpRequest], "McpPrincipal | None"]
_authenticators: list[BearerAuthenticator] = []


def register_bearer_authenticator(fn: BearerAuthenticator) -> None:
    """Adds `fn` to the authenticators tried for bearer tokens that are not API keys (once per function)."""
    if fn not in _authenticators:
        _authenticators.append(fn)


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _key_principal(key: ApiKey) -> McpPrincipal | None:
    if MCP_SCOPE not in (key.scopes or []) or key.tenant.status == Tenant.Status.SUSPENDED:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)  # at most once a minute per key, as the API does
    return McpPrincipal(
        tenant=key.tenant,
        actor_label=f"{key.name} ({KEY_PREFIX}{key.prefix})",
        api_key=key,
        user_id=key.created_by_id,
    )


def mcp_principal(request: HttpRequest) -> McpPrincipal | None:
    """The principal of this request, or None (no token, an unknown, revoked or expired key, a key without the
    `mcp` scope, a suspended tenant, or a token no authenticator accepts)."""
    token = _bearer(request)
    if not token:
        return None
    if token.startswith(KEY_PREFIX):
        key = getattr(request, "api_key", None) or api_key_lookup(token)
        return _key_principal(key) if key is not None else None
    for authenticate in _authenticators:
        principal = authenticate(request)
        if principal is not None:
            if principal.tenant.status == Tenant.Status.SUSPENDED:
                return None
            return principal
    return None


def resource_metadata_url(request: HttpRequest) -> str:
    base = (getattr(settings, "GATEWAY_URL", "") or request.build_absolute_uri("/")).rstrip("/")
    if base.endswith("/mcp"):
        base = base[: -len("/mcp")]
    return f"{base}/.well-known/oauth-protected-resource"


def unauthorized(request: HttpRequest, message: str = "Authentication required.") -> JsonResponse:
    """401 for MCP: a JSON-RPC error body and the header that points the client at the protected resource
    metadata."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}}
    response = JsonResponse(body, status=401)
    response["WWW-Authenticate"] = f'Bearer resource_metadata="{resource_metadata_url(request)}"'
    return response
