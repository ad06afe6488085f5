"""API keys for external apps: `bzs_<prefix>_<secret>`. The secret is random (256 bits) and only its SHA-256 is kept,
so a fast hash is enough; the prefix finds the row and the comparison is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts import access_cache
from apps.accounts.models import ApiKey

KEY_PREFIX = "bzs_"


def api_key_generate() -> tuple[str, str, str]:
    """Returns (full key shown once, lookup prefix, secret hash)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    full = f"{KEY_PREFIX}{prefix}_{secret}"
    return full, prefix, _hash(full)


def _hash(full: str) -> str:
    return hashlib.sha256(full.encode()).hexdigest()


def api_key_lookup(raw: str) -> ApiKey | None:
    """The usable key named by `raw` (not revoked, not expired, its tenant active), else None."""
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    key = access_cache.lookup(
        ("api_key", prefix),
        lambda: ApiKey.objects.select_related("tenant", "tenant__quota").filter(prefix=prefix).first(),
    )
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(raw)):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= timezone.now()):
        return None
    return key


class ApiKeyPrincipal:
    """request.user for a call made with an API key: authenticated, but nobody's account."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    is_active = True

    def __init__(self, key: ApiKey):
        self.key = key
        self.pk = None
        self.id = None

    def __str__(self) -> str:
        return f"api-key:{self.key.prefix}"


_touched: dict[int, datetime] = {}  # key id -> when this process last wrote its last_used_at


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw.startswith(KEY_PREFIX):
            return None
        key = getattr(request._request, "api_key", None) or api_key_lookup(raw)
        if key is None:
            raise AuthenticationFailed("Invalid, expired or revoked API key.", code="invalid_api_key")
        now = timezone.now()
        last = max(filter(None, (key.last_used_at, _touched.get(key.pk))), default=None)
        if last is None or (now - last).total_seconds() > 60:
            # at most once a minute per key and process (the kept row does not see its own update)
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            if len(_touched) > 100_000:
                _touched.clear()
            _touched[key.pk] = now
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
