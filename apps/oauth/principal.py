"""The MCP server's view of an OAuth access token: who is calling, for which tenant, or nobody.

Everything that can end access is read on every call, so that it ends at once: the token (hash lookup, expiry,
revocation, audience), its grant and client, the account, the tenant, and the person's membership and role.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.mcp.auth import McpPrincipal
from apps.oauth import server, services
from apps.oauth.models import OAuthGrant, OAuthToken, token_hash

_TOUCH_EVERY = timedelta(minutes=1)


def _bearer(request) -> str:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def oauth_token_lookup(raw: str) -> OAuthToken | None:
    """The live token for a raw access token, or None (unknown, expired, revoked, for another audience, or its
    grant, client, account, tenant or membership no longer allows it)."""
    if not raw.startswith(server.ACCESS_PREFIX) or len(raw) > 200:
        return None
    token = (
        OAuthToken.objects.select_related("client", "grant", "user", "tenant", "tenant__quota")
        .filter(access_token_hash=token_hash(raw))
        .first()
    )
    if token is None or token.revoked_at is not None or token.expires_at <= timezone.now():
        return None
    if token.grant.revoked_at is not None or token.client.disabled_at is not None:
        return None
    if not server.resource_matches(token.resource):
        return None
    if not services.may_use(user=token.user, tenant=token.tenant):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        OAuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
        OAuthGrant.objects.filter(pk=token.grant_id).update(last_used_at=now)
    return token


def oauth_bearer_principal(request):
    """The MCP seam's bearer authenticator: an `McpPrincipal` for a live OAuth access token, else None."""
    token = oauth_token_lookup(_bearer(request))
    if token is None:
        return None
    label = f"{token.client.client_name or 'OAuth client'} for {token.user.email}"
    return McpPrincipal(
        tenant=token.tenant,
        actor_label=label[:255],
        oauth_client=token.client,
        allowed_tools=None,
        user_id=token.user_id,
    )
