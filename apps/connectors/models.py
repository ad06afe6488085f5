"""A tenant's connections to its platforms (tenant schema). Credentials are encrypted; config is not secret."""

from __future__ import annotations

from django.db import models

from apps.connectors.crypto import EncryptedJSONField


class Connection(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # created, not yet tested or authorised
        ACTIVE = "active"
        ERROR = "error"
        NEEDS_REAUTH = "needs_reauth"

    provider = models.CharField(max_length=40, db_index=True)
    name = models.CharField(max_length=100)
    config = models.JSONField(default=dict, blank=True)
    credentials = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)  # accounts.User in the public schema
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class ConnectionCheck(models.Model):
    """One health check ("Test connection", scheduled or operator), newest first."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="checks")
    ok = models.BooleanField()
    latency_ms = models.IntegerField()
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, default="manual")  # manual | scheduled | operator
    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connection_id} {'ok' if self.ok else 'failed'} at {self.checked_at:%Y-%m-%d %H:%M}"


class OAuthState(models.Model):
    """One authorisation attempt: single use, expiring, bound to the connection and the user who started it."""

    nonce = models.CharField(max_length=64, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="oauth_states")
    user_id = models.BigIntegerField()
    secrets = EncryptedJSONField(default=dict)  # PKCE code verifier
    redirect_uri = models.URLField(max_length=500)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"OAuth state for connection {self.connection_id}"
