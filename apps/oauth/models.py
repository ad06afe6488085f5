"""OAuth 2.1 for MCP clients, in the public schema: clients registered dynamically (RFC 7591), the consent a person
gave one client for one tenant (a grant), single-use authorization codes bound to a PKCE challenge, and token pairs.

Codes, access tokens, refresh tokens and client secrets are stored as SHA-256 hashes only. Each consent starts a
refresh family (`family_id`): every refresh replaces the pair, and presenting a replaced refresh token again ends the
whole family (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Tenant


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(models.Model, ClientMixin):
    """An MCP client (a desktop app, a hosted agent) as it registered itself. Public clients have no secret."""

    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=64, blank=True)
    client_name = models.CharField(max_length=200, blank=True)
    client_uri = models.URLField(max_length=500, blank=True)
    redirect_uris = models.JSONField(default=list)
    grant_types = models.JSONField(default=list)
    response_types = models.JSONField(default=list)
    token_endpoint_auth_method = models.CharField(max_length=32)
    scope = models.CharField(max_length=200, blank=True)
    registered_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return f"{self.client_name or 'Unnamed client'} ({self.client_id[:8]}…)"

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    # Authlib's ClientMixin
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope):
        allowed = set(scope_to_list(self.scope or "mcp"))
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(item for item in scope_to_list(scope) if item in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        if not self.client_secret_hash or not client_secret:
            return False
        return hmac.compare_digest(self.client_secret_hash, token_hash(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type):
        return response_type in (self.response_types or ["code"])

    def check_grant_type(self, grant_type):
        return grant_type in (self.grant_types or ["authorization_code"])


class OAuthGrant(models.Model):
    """A person's consent for one client to act in one tenant. Revoking it ends every token issued under it."""

    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_grants")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="oauth_grants")
    scope = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "OAuth grant"
        indexes = [models.Index(fields=["tenant", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.client.client_name or self.client.client_id} for {self.user} @ {self.tenant.slug}"


class OAuthAuthorizationCode(models.Model, AuthorizationCodeMixin):
    code_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    grant = models.ForeignKey(OAuthGrant, on_delete=models.CASCADE, related_name="codes")
    scope = models.CharField(max_length=200)
    resource = models.CharField(max_length=500)
    redirect_uri = models.CharField(max_length=2000)
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=8, default="S256")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth authorization code"

    def __str__(self) -> str:
        return f"code for {self.client_id} ({'used' if self.used_at else 'unused'})"

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class OAuthToken(models.Model, TokenMixin):
    grant = models.ForeignKey(OAuthGrant, on_delete=models.CASCADE, related_name="tokens")
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    authorization_code = models.ForeignKey(
        OAuthAuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens"
    )
    family_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    access_token_hash = models.CharField(max_length=64, unique=True)
    refresh_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    scope = models.CharField(max_length=200)
    resource = models.CharField(max_length=500)  # the audience: the MCP server's URL
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)  # its refresh token was exchanged for a new pair
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = "OAuth token"

    def __str__(self) -> str:
        return f"token {self.pk} of {self.client_id} ({'revoked' if self.revoked_at else 'live'})"

    # Authlib's TokenMixin
    def check_client(self, client):
        return self.client_id == client.pk

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return max(0, int((self.expires_at - timezone.now()).total_seconds()))

    def is_expired(self):
        return self.expires_at <= timezone.now()

    def is_revoked(self):
        return self.revoked_at is not None
